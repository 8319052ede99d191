import { z } from 'zod';

/**
 * The only reader of process.env for the client's own server (`npm start -w
 * client`). The all-in-one process passes options to startClient instead.
 */
const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
});

export type ClientConfig = z.infer<typeof schema>;

export function loadConfig(env: Record<string, string | undefined> = process.env): ClientConfig {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new Error(`invalid ${String(issue.path[0])}: ${issue.message}`);
}

/**
 * What `proxy.ts` needs per request, read once: `PUBLIC_URL` (https turns on
 * HSTS; the all-in-one process validates it at start), the build-time
 * `NEXT_PUBLIC_SYNC_URL` (a sync socket on another origin joins `connect-src`)
 * and whether this is `next dev`.
 */
const securitySchema = z.object({
  PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  NEXT_PUBLIC_SYNC_URL: z
    .url({ protocol: /^wss?$/ })
    .optional()
    .or(z.literal('').transform(() => undefined)),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
});

export type SecurityConfig = z.infer<typeof securitySchema>;

export function loadSecurityConfig(env: Record<string, string | undefined> = process.env): SecurityConfig {
  const result = securitySchema.safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new Error(`invalid ${String(issue.path[0])}: ${issue.message}`);
}
