import { getOrCreate, httpRequestHistogram } from '@confab/platform';
import { Counter, type Registry } from 'prom-client';

/** `confab_auth_*` metrics; created once per registry (the all-in-one shares one). */
export function createAuthMetrics(registry: Registry) {
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    getOrCreate(registry, name, () => new Counter<L>({ name, help, labelNames, registers: [registry] }));
  return {
    http: httpRequestHistogram(registry, 'confab_auth'),
    logins: counter('confab_auth_logins_total', 'Login attempts by outcome', ['outcome'] as const),
    registrations: counter('confab_auth_registrations_total', 'Accounts created', [] as const),
    accountDeletions: counter('confab_auth_account_deletions_total', 'Accounts deleted by their users', [] as const),
    passwordChanges: counter('confab_auth_password_changes_total', 'Password changes by outcome', ['outcome'] as const),
    passwordResets: counter(
      'confab_auth_password_resets_total',
      'Forgotten-password links: requested, limited (an account over its hourly links), reset, invalid_link',
      ['outcome'] as const,
    ),
    syncTokens: counter('confab_auth_sync_tokens_issued_total', 'Sync tokens issued', [] as const),
    publishFailures: counter('confab_auth_event_publish_failures_total', 'Bus events that could not be published', [
      'subject',
    ] as const),
  };
}

export type AuthMetrics = ReturnType<typeof createAuthMetrics>;
