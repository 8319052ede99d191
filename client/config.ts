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
