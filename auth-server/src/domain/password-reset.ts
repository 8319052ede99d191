import { hashSecret, randomBase32 } from './session';

/**
 * Forgotten passwords: a link with a single-use token, emailed to the account's address by the
 * notifier. Only the token's SHA-256 is stored, as for sessions.
 */
export const PASSWORD_RESET_POLICY = {
  /** How long a link works. */
  lifetimeMs: 30 * 60_000,
} as const;

/** 160 random bits, base32: as unguessable as a session's secret. */
export function newPasswordResetToken(): { token: string; tokenHash: string } {
  const token = randomBase32(20);
  return { token, tokenHash: hashSecret(token) };
}
