import { ConfigError, emptyAsUndefined, envUrl } from '@confab/platform';
import { z } from 'zod';

export { ConfigError };

/**
 * The notifier's configuration: the only place that reads the environment
 * (main.ts hands `process.env` in; the all-in-one builds its own object).
 * Each entry says what it is for; a bad value is refused with one line that
 * names the variable.
 */
const optionalString = z.preprocess(emptyAsUndefined, z.string().optional());

export const notifierConfigSchema = z.object({
  /** Listen port of the standalone process. */
  PORT: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(0).max(65535).default(4200)),
  /** Embedded state: the SQLite file and `mail/` when no SMTP server is configured. */
  DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default('./data')),
  /** `postgres://…` selects PostgreSQL; unset selects SQLite in DATA_DIR. */
  DATABASE_URL: envUrl(['postgres:', 'postgresql:']),
  /** NATS JetStream; the standalone process refuses to start without it. */
  NATS_URL: envUrl(['nats:', 'tls:']),
  /** The auth server's base URL (sessions and directory); required when run alone. */
  AUTH_URL: envUrl(['http:', 'https:']),
  /** Shared secret for auth-server's internal endpoints; required with AUTH_URL. */
  INTERNAL_API_TOKEN: optionalString,
  /** The origin users open: links in emails and pushes, and the CSRF Origin check. */
  PUBLIC_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .default('http://localhost:3000')
      .refine((value) => {
        try {
          return ['http:', 'https:'].includes(new URL(value).protocol);
        } catch {
          return false;
        }
      }, 'must be an http(s) URL'),
  ),
  /** `smtp://user:pass@host:port`; unset writes `.eml` files under DATA_DIR/mail. */
  SMTP_URL: envUrl(['smtp:', 'smtps:']),
  EMAIL_FROM: z.preprocess(emptyAsUndefined, z.string().default('Confab <notifications@localhost>')),
  /**
   * Web Push identity; VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY both or neither (neither: generated once
   * and kept in the database).
   */
  VAPID_PUBLIC_KEY: optionalString,
  VAPID_PRIVATE_KEY: optionalString,
  /** `mailto:` or `https:` push contact, set or generated keys alike; unset: `mailto:notifications@<PUBLIC_URL host>`. */
  VAPID_SUBJECT: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .optional()
      .refine((v) => v === undefined || v.startsWith('mailto:') || v.startsWith('https:'), {
        message: 'must be a mailto: or https: URL',
      }),
  ),
  /** `1` accepts push endpoints on loopback/private addresses (tests, private networks). */
  PUSH_ALLOW_PRIVATE_ENDPOINTS: z.preprocess(emptyAsUndefined, z.enum(['0', '1']).default('0')),
  /** JetStream stream and subject prefix; defaults are the CONTRACT's (tests use their own to stay apart). */
  NATS_STREAM: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'must be a stream name')
      .default('CONFAB'),
  ),
  NATS_SUBJECT_PREFIX: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'must be one subject token')
      .default('confab'),
  ),
  /** How long an event handed to a notifier that died stays with it before the bus hands it to another. */
  NOTIFIER_ACK_WAIT_MS: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(100).max(3_600_000).default(30_000)),
  LOG_LEVEL: z.preprocess(
    emptyAsUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  /** Signs unsubscribe links; generated once and kept in the database when unset. */
  UNSUBSCRIBE_SECRET: z.preprocess(emptyAsUndefined, z.string().min(16).optional()),
});

type RawConfig = z.infer<typeof notifierConfigSchema>;

export interface NotifierConfig {
  readonly port: number;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly natsUrl: string | undefined;
  readonly authUrl: string | undefined;
  readonly internalApiToken: string | undefined;
  readonly publicUrl: string;
  readonly smtpUrl: string | undefined;
  readonly emailFrom: string;
  readonly vapid: { publicKey: string; privateKey: string; subject: string } | undefined;
  readonly vapidSubject: string | undefined;
  readonly pushAllowPrivateEndpoints: boolean;
  readonly unsubscribeSecret: string | undefined;
  readonly natsStream: string;
  readonly natsSubjectPrefix: string;
  readonly logLevel: string;
  readonly ackWaitMs: number;
}

/** Parses the environment; throws a ConfigError naming the first bad variable. */
export function loadNotifierConfig(env: Record<string, string | undefined>): NotifierConfig {
  const result = notifierConfigSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(String(issue?.path[0] ?? 'environment'), issue?.message ?? 'invalid');
  }
  const raw: RawConfig = result.data;
  const vapidSet = [raw.VAPID_PUBLIC_KEY, raw.VAPID_PRIVATE_KEY].filter((v) => v !== undefined).length;
  if (vapidSet === 1) {
    const missing = raw.VAPID_PUBLIC_KEY === undefined ? 'VAPID_PUBLIC_KEY' : 'VAPID_PRIVATE_KEY';
    throw new ConfigError(missing, 'must be set together with the other VAPID key');
  }
  if (raw.AUTH_URL !== undefined && raw.INTERNAL_API_TOKEN === undefined) {
    throw new ConfigError('INTERNAL_API_TOKEN', 'is required when AUTH_URL is set');
  }
  const publicUrl = new URL(raw.PUBLIC_URL).origin;
  const vapidSubject = raw.VAPID_SUBJECT;
  return {
    port: raw.PORT,
    dataDir: raw.DATA_DIR,
    databaseUrl: raw.DATABASE_URL,
    natsUrl: raw.NATS_URL,
    authUrl: raw.AUTH_URL,
    internalApiToken: raw.INTERNAL_API_TOKEN,
    publicUrl,
    smtpUrl: raw.SMTP_URL,
    emailFrom: raw.EMAIL_FROM,
    vapid:
      raw.VAPID_PUBLIC_KEY && raw.VAPID_PRIVATE_KEY
        ? {
            publicKey: raw.VAPID_PUBLIC_KEY,
            privateKey: raw.VAPID_PRIVATE_KEY,
            subject: vapidSubject ?? `mailto:notifications@${new URL(publicUrl).hostname}`,
          }
        : undefined,
    vapidSubject,
    pushAllowPrivateEndpoints: raw.PUSH_ALLOW_PRIVATE_ENDPOINTS === '1',
    unsubscribeSecret: raw.UNSUBSCRIBE_SECRET,
    natsStream: raw.NATS_STREAM,
    natsSubjectPrefix: raw.NATS_SUBJECT_PREFIX,
    logLevel: raw.LOG_LEVEL,
    ackWaitMs: raw.NOTIFIER_ACK_WAIT_MS,
  };
}
