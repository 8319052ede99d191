import { describe, expect, it } from 'vitest';
import { checkBucket, giveTokenBack, takeToken, tokensAt } from './throttle';

const policy = { capacity: 5, refillEveryMs: 60_000 };

describe('token bucket', () => {
  it('starts full and allows attempts while a token is left', () => {
    expect(tokensAt(null, policy, 0)).toBe(5);
    let state = null as ReturnType<typeof takeToken> | null;
    for (let i = 0; i < 4; i++) state = takeToken(state, policy, 0);
    expect(checkBucket(state, policy, 0)).toEqual({ allowed: true });
  });

  it('refuses when empty and says how long until one token is back', () => {
    let state = null as ReturnType<typeof takeToken> | null;
    for (let i = 0; i < 5; i++) state = takeToken(state, policy, 0);
    expect(checkBucket(state, policy, 0)).toEqual({ allowed: false, retryAfterMs: 60_000 });
    expect(checkBucket(state, policy, 45_000)).toEqual({ allowed: false, retryAfterMs: 15_000 });
    expect(checkBucket(state, policy, 60_000)).toEqual({ allowed: true });
  });

  it('gives a token back, never above capacity', () => {
    expect(giveTokenBack({ tokens: 2, updatedAt: 0 }, policy, 0)).toEqual({ tokens: 3, updatedAt: 0 });
    expect(giveTokenBack({ tokens: 4.5, updatedAt: 0 }, policy, 0).tokens).toBe(5);
  });

  it('never refills above capacity and never goes below zero', () => {
    expect(tokensAt({ tokens: 4, updatedAt: 0 }, policy, 10 * 60_000)).toBe(5);
    expect(takeToken({ tokens: 0, updatedAt: 0 }, policy, 0).tokens).toBe(0);
  });
});
