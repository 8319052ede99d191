import { parseEnv } from '@confab/platform';
import { z } from 'zod';

/** The only reader of process.env in auth-server (main.ts passes it in). */
const schema = z.object({
  PORT: z.coerce
    .number({ message: 'must be a port number' })
    .int('must be an integer')
    .min(0)
    .max(65535, 'must be a port number')
    .default(4000),
  DATA_DIR: z.string().default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  NATS_URL: z
    .string()
    .regex(/^(nats|tls):\/\//, 'must be a nats:// URL')
    .optional(),
  /** JetStream stream and first subject token; CONTRACT fixes CONFAB / confab, tests pick their own. */
  NATS_STREAM: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a JetStream stream name')
    .default('CONFAB'),
  NATS_SUBJECT_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be one subject token')
    .default('confab'),
  PUBLIC_URL: z
    .url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' })
    .default('http://localhost:3000'),
  /** Guards /internal/*; when unset those endpoints answer 404. At least 16 characters. */
  INTERNAL_API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** `1` when behind ONE reverse proxy: the client address for throttling is the last X-Forwarded-For entry (the one it appended). */
  TRUST_PROXY: z.enum(['0', '1'], { message: 'must be 0 or 1' }).default('0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface AuthConfig {
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  natsUrl: string | undefined;
  natsStream: string;
  natsSubjectPrefix: string;
  publicUrl: string;
  /** PUBLIC_URL's origin: the only Origin accepted on cookie-authenticated writes. */
  publicOrigin: string;
  /** Cookies get `Secure` when PUBLIC_URL is https. */
  secureCookies: boolean;
  internalApiToken: string | undefined;
  trustProxy: boolean;
  logLevel: string;
}

/** Throws a ConfigError (one line naming the variable) on a bad value. */
export function loadAuthConfig(env: Record<string, string | undefined>): AuthConfig {
  const parsed = parseEnv(schema, env);
  const publicUrl = parsed.PUBLIC_URL.replace(/\/+$/, '');
  return {
    port: parsed.PORT,
    dataDir: parsed.DATA_DIR,
    databaseUrl: parsed.DATABASE_URL,
    natsUrl: parsed.NATS_URL,
    natsStream: parsed.NATS_STREAM,
    natsSubjectPrefix: parsed.NATS_SUBJECT_PREFIX,
    publicUrl,
    publicOrigin: new URL(publicUrl).origin,
    secureCookies: new URL(publicUrl).protocol === 'https:',
    internalApiToken: parsed.INTERNAL_API_TOKEN,
    trustProxy: parsed.TRUST_PROXY === '1',
    logLevel: parsed.LOG_LEVEL,
  };
}
