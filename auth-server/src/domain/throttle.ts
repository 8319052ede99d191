/**
 * Login throttling as token buckets: each failed login costs a token from the
 * account's bucket and from the client IP's bucket; a login is refused (429)
 * while either is empty. Buckets refill steadily, so a user who mistypes
 * twice loses nothing, while guessing is held to about one try a minute per
 * account. A successful login refills the account's bucket.
 */
export interface BucketPolicy {
  /** Failures allowed in a burst. */
  capacity: number;
  /** One token comes back every this many ms. */
  refillEveryMs: number;
}

export interface BucketState {
  tokens: number;
  updatedAt: number;
}

export const THROTTLE_POLICY = {
  account: { capacity: 5, refillEveryMs: 60_000 },
  // Higher: many people can share one address (offices, carrier NAT).
  ip: { capacity: 50, refillEveryMs: 6_000 },
  // Registrations per address, successful or not: each costs an Argon2 hash, and a 409 tells whether an
  // email has an account. A burst of 30 (a class signing up together), then one every 10 s.
  registration: { capacity: 30, refillEveryMs: 10_000 },
  // Forgotten-password requests per address (each may cost an email): 20, then one every 30 s.
  passwordResetAddress: { capacity: 20, refillEveryMs: 30_000 },
  // Links sent to one account: 3, then one every 20 minutes, so an inbox cannot be flooded.
  passwordResetAccount: { capacity: 3, refillEveryMs: 20 * 60_000 },
} as const satisfies Record<string, BucketPolicy>;

export function tokensAt(state: BucketState | null, policy: BucketPolicy, nowMs: number): number {
  if (!state) return policy.capacity;
  const elapsedMs = Math.max(0, nowMs - state.updatedAt);
  return Math.min(policy.capacity, state.tokens + elapsedMs / policy.refillEveryMs);
}

/** Allowed, or how long until one attempt is allowed again. */
export function checkBucket(
  state: BucketState | null,
  policy: BucketPolicy,
  nowMs: number,
): { allowed: true } | { allowed: false; retryAfterMs: number } {
  const tokens = tokensAt(state, policy, nowMs);
  if (tokens >= 1) return { allowed: true };
  return { allowed: false, retryAfterMs: Math.ceil((1 - tokens) * policy.refillEveryMs) };
}

/** The bucket after a successful attempt returns the token it took. */
export function giveTokenBack(state: BucketState, policy: BucketPolicy, nowMs: number): BucketState {
  return { tokens: Math.min(policy.capacity, tokensAt(state, policy, nowMs) + 1), updatedAt: nowMs };
}

/** The bucket after one attempt at `nowMs`. */
export function takeToken(state: BucketState | null, policy: BucketPolicy, nowMs: number): BucketState {
  return { tokens: Math.max(0, tokensAt(state, policy, nowMs) - 1), updatedAt: nowMs };
}

/** After this long untouched, every bucket has refilled completely, so its row can go. */
export const BUCKET_FULL_AFTER_MS = Math.max(
  ...Object.values(THROTTLE_POLICY).map((p) => p.capacity * p.refillEveryMs),
);
