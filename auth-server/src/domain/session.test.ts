import { describe, expect, it } from 'vitest';
import {
  checkSession,
  hashSecret,
  newSessionCredentials,
  parseSessionToken,
  SESSION_POLICY,
  secretMatches,
} from './session';

const DAY = 24 * 60 * 60 * 1000;

describe('session credentials', () => {
  it('makes a token of an id and a 160-bit secret, and stores only the secret hash', () => {
    const { id, secret, token, secretHash } = newSessionCredentials();
    expect(token).toBe(`${id}.${secret}`);
    expect(secret).toMatch(/^[a-z2-7]{32}$/); // 32 base32 characters = 160 bits
    expect(secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(secretHash).not.toContain(secret);
    expect(parseSessionToken(token)).toEqual({ id, secret });
    expect(secretMatches(secret, secretHash)).toBe(true);
    expect(secretMatches(`${secret.slice(0, -1)}a`, secretHash)).toBe(secret.endsWith('a'));
    expect(newSessionCredentials().token).not.toBe(token);
  });

  it('refuses tokens that are not shaped like ours', () => {
    for (const t of ['', 'abc', 'ABC.DEF', 'a.b', `x.${'a'.repeat(200)}`, null, undefined]) {
      expect(parseSessionToken(t)).toBeNull();
    }
    expect(hashSecret('a')).toBe(hashSecret('a'));
  });
});

describe('session policy', () => {
  const fresh = { expiresAt: 30 * DAY, lastSeenAt: 0 };

  it('is expired at its expiry time', () => {
    expect(checkSession(fresh, 30 * DAY)).toEqual({ valid: false });
  });

  it('does not renew while more than 15 days are left, and writes lastSeenAt at most once a minute', () => {
    expect(checkSession(fresh, 30_000)).toEqual({ valid: true, update: null, expiresAt: 30 * DAY });
    expect(checkSession(fresh, 10 * DAY)).toEqual({
      valid: true,
      update: { lastSeenAt: 10 * DAY },
      expiresAt: 30 * DAY,
    });
  });

  it('slides the expiry to 30 days from now once less than 15 days are left', () => {
    const now = 16 * DAY;
    expect(checkSession(fresh, now)).toEqual({
      valid: true,
      update: { expiresAt: now + SESSION_POLICY.lifetimeMs, lastSeenAt: now },
      expiresAt: now + SESSION_POLICY.lifetimeMs,
    });
  });
});
