import { describe, expect, it } from 'vitest';
import { ConfigError, loadNotifierConfig } from './config';

function problem(env: Record<string, string>): string {
  try {
    loadNotifierConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  return 'accepted';
}

describe('notifier config', () => {
  it('has the CONTRACT defaults when nothing is set', () => {
    const config = loadNotifierConfig({});
    expect(config).toMatchObject({
      port: 4200,
      dataDir: './data',
      databaseUrl: undefined,
      natsUrl: undefined,
      publicUrl: 'http://localhost:3000',
      smtpUrl: undefined,
      vapid: undefined,
      pushAllowPrivateEndpoints: false,
      unsubscribeSecret: undefined,
    });
  });

  it('treats empty values as unset', () => {
    expect(loadNotifierConfig({ PORT: '', SMTP_URL: '' })).toMatchObject({ port: 4200, smtpUrl: undefined });
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ NATS_URL: 'http://nats' }, 'NATS_URL'],
    [{ SMTP_URL: 'mail.example' }, 'SMTP_URL'],
    [{ PUBLIC_URL: 'chat.example' }, 'PUBLIC_URL'],
    [{ PUSH_ALLOW_PRIVATE_ENDPOINTS: 'yes' }, 'PUSH_ALLOW_PRIVATE_ENDPOINTS'],
    [{ VAPID_PUBLIC_KEY: 'abc' }, 'VAPID_PRIVATE_KEY'],
    [{ VAPID_SUBJECT: 'someone' }, 'VAPID_SUBJECT'],
    [{ AUTH_URL: 'http://auth:4000' }, 'INTERNAL_API_TOKEN'],
    [{ UNSUBSCRIBE_SECRET: 'short' }, 'UNSUBSCRIBE_SECRET'],
  ])('refuses %j with one line naming %s', (env, variable) => {
    const message = problem(env);
    expect(message.startsWith(`${variable}: `)).toBe(true);
    expect(message).not.toContain('\n');
  });

  it('takes the VAPID keys as a set, with a mailto subject derived from PUBLIC_URL when none is given', () => {
    const config = loadNotifierConfig({
      VAPID_PUBLIC_KEY: 'pub',
      VAPID_PRIVATE_KEY: 'priv',
      PUBLIC_URL: 'https://chat.example.com/app',
    });
    expect(config.publicUrl).toBe('https://chat.example.com');
    expect(config.vapid).toEqual({
      publicKey: 'pub',
      privateKey: 'priv',
      subject: 'mailto:notifications@chat.example.com',
    });
  });
});
