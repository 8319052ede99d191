import path from 'node:path';
import { parseEnv } from '@confab/platform';
import { z } from 'zod';

/**
 * The all-in-one process's own settings. Each service still parses its own
 * variables with its own loader; this module decides only what the process as
 * a whole needs: the port, the data directory, which bus, whether to serve the web app.
 */
const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Interface to listen on; unset = every interface, IPv4 and IPv6. */
  HOST: z.string().optional(),
  DATA_DIR: z.string().default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  NATS_URL: z
    .string()
    .regex(/^(nats|tls):\/\//, 'must be a nats:// URL')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `prod` serves the built web app, `dev` runs Next in dev mode, `off` serves only the APIs (tests, headless use). */
  CONFAB_CLIENT: z.enum(['prod', 'dev', 'off']).default('prod'),
});

export type AllInOneConfig = z.infer<typeof schema> & { dataDir: string };

export function loadAllInOneConfig(env: Record<string, string | undefined>): AllInOneConfig {
  const parsed = parseEnv(schema, env);
  // npm runs workspace scripts inside the package folder; resolve a relative
  // DATA_DIR against the folder the user ran `npm start` in.
  const base = env.INIT_CWD ?? process.cwd();
  return { ...parsed, dataDir: path.resolve(base, parsed.DATA_DIR) };
}
