import { sha256 } from '@oslojs/crypto/sha2';
import { constantTimeEqual } from '@oslojs/crypto/subtle';
import { encodeBase32LowerCaseNoPadding, encodeHexLowerCase } from '@oslojs/encoding';

/**
 * Sessions on the Lucia model: the client holds `<id>.<secret>`; the database
 * holds the id and SHA-256(secret) only, so a leaked table lets no one in.
 * The secret is 160 random bits and is compared in constant time.
 */
export const SESSION_POLICY = {
  /** A session lives this long after it was last renewed. */
  lifetimeMs: 30 * 24 * 60 * 60 * 1000,
  /** It is renewed (sliding expiry) when used with less than this left. */
  renewWhenLeftMs: 15 * 24 * 60 * 60 * 1000,
  /** lastSeenAt is written at most this often, so reads stay reads. */
  lastSeenResolutionMs: 60 * 1000,
} as const;

export type SessionPolicy = { lifetimeMs: number; renewWhenLeftMs: number; lastSeenResolutionMs: number };

export interface StoredSession {
  id: string;
  userId: string;
  secretHash: string;
  createdAt: number;
  expiresAt: number;
  lastSeenAt: number;
  userAgent: string | null;
}

const SECRET_BYTES = 20; // 160 bits
const ID_BYTES = 15; // 120 bits: unguessable too, though the secret is what protects a session

export function randomBase32(bytes: number): string {
  return encodeBase32LowerCaseNoPadding(crypto.getRandomValues(new Uint8Array(bytes)));
}

export function newSessionCredentials(): { id: string; secret: string; token: string; secretHash: string } {
  const id = randomBase32(ID_BYTES);
  const secret = randomBase32(SECRET_BYTES);
  return { id, secret, token: `${id}.${secret}`, secretHash: hashSecret(secret) };
}

const TOKEN_PATTERN = /^([a-z2-7]{1,64})\.([a-z2-7]{16,128})$/;

/** Splits a presented token; null for anything that is not shaped like one of ours. */
export function parseSessionToken(token: string | undefined | null): { id: string; secret: string } | null {
  if (!token) return null;
  const match = TOKEN_PATTERN.exec(token);
  if (!match) return null;
  return { id: match[1] as string, secret: match[2] as string };
}

export function hashSecret(secret: string): string {
  return encodeHexLowerCase(sha256(new TextEncoder().encode(secret)));
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = new TextEncoder().encode(hashSecret(secret));
  const stored = new TextEncoder().encode(storedHash);
  return presented.length === stored.length && constantTimeEqual(presented, stored);
}

export type SessionCheck =
  | { valid: false }
  | { valid: true; update: { expiresAt?: number; lastSeenAt?: number } | null; expiresAt: number };

/**
 * What using a session at `nowMs` means: expired, or valid with the fields
 * to write back (a renewed expiry when less than `renewWhenLeftMs` is left,
 * a fresher lastSeenAt when the stored one is older than the resolution).
 */
export function checkSession(
  session: Pick<StoredSession, 'expiresAt' | 'lastSeenAt'>,
  nowMs: number,
  policy: SessionPolicy = SESSION_POLICY,
): SessionCheck {
  if (nowMs >= session.expiresAt) return { valid: false };
  const update: { expiresAt?: number; lastSeenAt?: number } = {};
  let expiresAt = session.expiresAt;
  if (session.expiresAt - nowMs < policy.renewWhenLeftMs) {
    expiresAt = nowMs + policy.lifetimeMs;
    update.expiresAt = expiresAt;
  }
  if (nowMs - session.lastSeenAt >= policy.lastSeenResolutionMs || update.expiresAt !== undefined) {
    update.lastSeenAt = nowMs;
  }
  return { valid: true, update: Object.keys(update).length > 0 ? update : null, expiresAt };
}
