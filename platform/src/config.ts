import { z } from 'zod';

/**
 * Parses a service's environment against its zod schema. On a bad value it
 * throws ONE line naming the variable and what is wrong, which main.ts prints
 * before exiting non-zero (CONTRACT: "exits non-zero with one line").
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`${variable}: ${problem}`);
  }
}

export function parseEnv<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  // Empty strings count as unset: `FOO= npm start` should mean "use the default".
  const cleaned: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') cleaned[key] = value;
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const variable = issue?.path.map(String).join('.') || 'environment';
  const value = cleaned[variable];
  const problem = issue ? issue.message : 'invalid';
  const echo = value !== undefined && !mayBeSecret(variable, value);
  throw new ConfigError(variable, echo ? `${problem} (got ${JSON.stringify(value)})` : problem);
}

/** Values that may hold credentials are never echoed: the error line ends up in logs. */
function mayBeSecret(variable: string, value: string): boolean {
  return /TOKEN|SECRET|PASSWORD|PRIVATE|KEY/i.test(variable) || value.includes('@');
}

/** Empty strings count as unset in every field (`FOO= npm start` means "use the default"). */
export const emptyAsUndefined = (value: unknown): unknown => (value === '' ? undefined : value);

/** An optional URL whose scheme is one of `protocols` (`'postgres:'`, `'nats:'`, ...). */
export const envUrl = (protocols: readonly string[]) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .optional()
      .refine(
        (value) => {
          if (value === undefined) return true;
          try {
            return protocols.includes(new URL(value).protocol);
          } catch {
            return false;
          }
        },
        { message: `must be a URL starting with ${protocols.join(' or ')}` },
      ),
  );

/** An integer in [min, max], `fallback` when unset. */
export const envInteger = (fallback: number, min: number, max: number) =>
  z.preprocess(emptyAsUndefined, z.coerce.number().int().min(min).max(max).default(fallback));
