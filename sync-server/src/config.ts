import os from 'node:os';
import { ConfigError, emptyAsUndefined, envInteger, envUrl } from '@confab/platform';
import { z } from 'zod';

/**
 * The sync server's configuration: the only place that reads the environment
 * (main.ts hands `process.env` in; the all-in-one process hands its own).
 * A bad value is refused with ONE line naming the variable.
 */
export class SyncConfigError extends ConfigError {}

/** Durable consumer names and Redis identifiers: keep them to safe characters. */
const safeName = (value: string) => value.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);

export const syncConfigSchema = z.object({
  /** Listen port of the standalone process. */
  PORT: envInteger(4100, 0, 65535),
  /** Embedded state (the SQLite file) when DATABASE_URL is unset. */
  DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default('./data')),
  /** `postgres://…` selects PostgreSQL; unset selects SQLite in DATA_DIR. */
  DATABASE_URL: envUrl(['postgres:', 'postgresql:']),
  /** NATS JetStream for events; the standalone process refuses to start without it. */
  NATS_URL: envUrl(['nats:', 'tls:', 'ws:', 'wss:']),
  /** JetStream stream and subject prefix (tests and shared NATS servers); default the CONTRACT's. */
  NATS_STREAM: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .optional(),
  ),
  NATS_SUBJECT_PREFIX: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .optional(),
  ),
  /** Several instances serve the same rooms through Redis when set. */
  REDIS_URL: envUrl(['redis:', 'rediss:']),
  /** Redis key prefix of this deployment's sync tier. */
  REDIS_PREFIX: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9_:.-]+$/)
      .default('confab-sync'),
  ),
  /** Where the auth server's JWKS lives (`/api/auth/jwks`); required when run alone. */
  AUTH_URL: envUrl(['http:', 'https:']),
  /** The origin users open; browser WebSocket upgrades from any other origin are refused. */
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
  /** Names this instance's bus consumer (`sync-<id>`) and Redis identity; distinct per instance, best kept across restarts. */
  SYNC_INSTANCE_ID: z.preprocess(emptyAsUndefined, z.string().min(1).max(64).optional()),
  /** Fold the update log into a snapshot once it holds this many bytes (or more than the snapshot). */
  SYNC_COMPACT_MIN_BYTES: envInteger(256 * 1024, 1024, 1024 * 1024 * 1024),
  /**
   * Update rate limit (token buckets; docs/sync.md): sustained non-empty updates per second and burst, per
   * connection and per user on this instance. A human sends a few per second at most; a device coming back
   * online sends its whole queue as one update per document.
   */
  SYNC_MAX_UPDATES_PER_SECOND: envInteger(20, 1, 100_000),
  SYNC_UPDATE_BURST: envInteger(100, 1, 1_000_000),
  SYNC_USER_MAX_UPDATES_PER_SECOND: envInteger(50, 1, 100_000),
  SYNC_USER_UPDATE_BURST: envInteger(300, 1, 1_000_000),
  LOG_LEVEL: z.preprocess(
    emptyAsUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
});

export interface SyncConfig {
  readonly port: number;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly natsUrl: string | undefined;
  readonly natsStream: string | undefined;
  readonly natsSubjectPrefix: string | undefined;
  readonly redisUrl: string | undefined;
  readonly redisPrefix: string;
  readonly authUrl: string | undefined;
  /** PUBLIC_URL's origin (`scheme://host:port`). */
  readonly publicOrigin: string;
  readonly instanceId: string;
  readonly compactMinBytes: number;
  /** Token bucket per connection (one document on one socket). */
  readonly updateRatePerConnection: { readonly perSecond: number; readonly burst: number };
  /** Token bucket per user across their connections on this instance. */
  readonly updateRatePerUser: { readonly perSecond: number; readonly burst: number };
  readonly logLevel: string;
}

export function loadSyncConfig(env: Record<string, string | undefined>): SyncConfig {
  const result = syncConfigSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    const variable = issue?.path.map(String).join('.') || 'environment';
    const value = env[variable];
    const problem = issue?.message ?? 'invalid';
    throw new SyncConfigError(variable, value ? `${problem} (got ${JSON.stringify(value)})` : problem);
  }
  const c = result.data;
  return {
    port: c.PORT,
    dataDir: c.DATA_DIR,
    databaseUrl: c.DATABASE_URL,
    natsUrl: c.NATS_URL,
    natsStream: c.NATS_STREAM,
    natsSubjectPrefix: c.NATS_SUBJECT_PREFIX,
    redisUrl: c.REDIS_URL,
    redisPrefix: c.REDIS_PREFIX,
    authUrl: c.AUTH_URL,
    publicOrigin: new URL(c.PUBLIC_URL).origin,
    instanceId: safeName(c.SYNC_INSTANCE_ID ?? `${os.hostname()}-${c.PORT}`),
    compactMinBytes: c.SYNC_COMPACT_MIN_BYTES,
    updateRatePerConnection: { perSecond: c.SYNC_MAX_UPDATES_PER_SECOND, burst: c.SYNC_UPDATE_BURST },
    updateRatePerUser: { perSecond: c.SYNC_USER_MAX_UPDATES_PER_SECOND, burst: c.SYNC_USER_UPDATE_BURST },
    logLevel: c.LOG_LEVEL,
  };
}

/** The standalone process talks to the other services over the network only; refuse to start without them. */
export function requireStandalone(config: SyncConfig): void {
  if (!config.natsUrl) throw new SyncConfigError('NATS_URL', 'required when sync-server runs alone');
  if (!config.authUrl) throw new SyncConfigError('AUTH_URL', 'required when sync-server runs alone');
}
