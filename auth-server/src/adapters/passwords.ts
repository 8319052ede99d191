import { hash, verify } from '@node-rs/argon2';

/**
 * Argon2id with OWASP's minimum profile (19 MiB, 2 passes, 1 lane), stored
 * as PHC strings so the parameters can be raised later without a migration:
 * `verify` reads them from the stored string.
 */
const ARGON2ID = 2; // Algorithm.Argon2id; the package exports it as a const enum, which isolatedModules cannot inline.
export const PASSWORD_HASH_OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, PASSWORD_HASH_OPTIONS);
}

export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    return await verify(phc, password);
  } catch {
    // A malformed stored hash is a mismatch, not a crash.
    return false;
  }
}
