import type { EventBus, Logger } from '@confab/platform';
import { bearerToken, readCookie } from '@confab/platform';
import { newEventId, type Role, subjects } from '@confab/protocol';
import type { SigningKeys } from './adapters/signing-keys';
import {
  checkSession,
  newSessionCredentials,
  parseSessionToken,
  SESSION_POLICY,
  secretMatches,
} from './domain/session';
import { MAX_DOCUMENTS_PER_BATCH, roomIdsIn, SYNC_TOKEN_TTL_MS, syncGrant } from './domain/sync-grant';
import { type BucketPolicy, checkBucket, giveTokenBack, THROTTLE_POLICY, takeToken } from './domain/throttle';
import type { AuthMetrics } from './metrics';
import type { AuthRepository } from './ports';

export const SESSION_COOKIE = 'confab_session';

export interface Credentials {
  cookie?: string | null | undefined;
  authorization?: string | null | undefined;
}

export type Authentication =
  | {
      ok: true;
      userId: string;
      sessionId: string;
      expiresAt: number;
      viaCookie: boolean;
      /** The expiry slid forward on this use: a cookie must be re-sent so the browser keeps it as long. */
      renewed: boolean;
      /** The presented token, to re-send in a renewed cookie. */
      token: string;
    }
  | { ok: false; reason: 'missing' | 'invalid' | 'expired' };

export interface SyncToken {
  token: string;
  /** Epoch ms, equal to the token's `exp` claim. */
  expiresAt: number;
}

/**
 * The auth rules that need storage but not HTTP: sessions, login throttling,
 * sync tokens and event publishing. The routes and the in-process ports
 * (SessionVerifier, Directory) both go through here.
 */
export function createAuthCore(deps: {
  repo: AuthRepository;
  keys: SigningKeys;
  bus: EventBus;
  logger: Logger;
  metrics: AuthMetrics;
  clock: () => number;
}) {
  const { repo, keys, bus, logger, metrics, clock } = deps;

  async function authenticate(credentials: Credentials): Promise<Authentication> {
    // A Bearer header wins over the cookie: it is what non-browser clients and services send on purpose.
    const bearer = bearerToken(credentials.authorization);
    const fromCookie = bearer ? undefined : readCookie(credentials.cookie, SESSION_COOKIE);
    const token = bearer ?? fromCookie;
    if (!token) return { ok: false, reason: 'missing' };
    const parsed = parseSessionToken(token);
    if (!parsed) return { ok: false, reason: 'invalid' };
    const session = await repo.sessionById(parsed.id);
    if (!session || !secretMatches(parsed.secret, session.secretHash)) return { ok: false, reason: 'invalid' };
    const now = clock();
    const check = checkSession(session, now);
    if (!check.valid) {
      await repo.deleteSession(session.id);
      return { ok: false, reason: 'expired' };
    }
    if (check.update) await repo.updateSession(session.id, check.update);
    return {
      ok: true,
      userId: session.userId,
      sessionId: session.id,
      expiresAt: check.expiresAt,
      viaCookie: !bearer,
      renewed: check.update?.expiresAt !== undefined,
      token,
    };
  }

  async function createSession(
    userId: string,
    userAgent: string | null,
  ): Promise<{ token: string; expiresAt: number }> {
    const now = clock();
    const { id, token, secretHash } = newSessionCredentials();
    const expiresAt = now + SESSION_POLICY.lifetimeMs;
    await repo.createSession({
      id,
      userId,
      secretHash,
      createdAt: now,
      expiresAt,
      lastSeenAt: now,
      userAgent: userAgent ? userAgent.slice(0, 512) : null,
    });
    return { token, expiresAt };
  }

  /**
   * Publishes after the change is committed. A bus failure is logged and
   * counted but does not undo the change or fail the request: the change is
   * the truth, and sync tokens (15 min) bound how long a missed event matters.
   */
  async function publish(subject: string, event: { id: string } & Record<string, unknown>): Promise<void> {
    try {
      await bus.publish(subject, event);
    } catch (err) {
      metrics.publishFailures.inc({ subject });
      logger.error({ err, subject, eventId: event.id }, 'could not publish event');
    }
  }

  async function revokeSession(sessionId: string, userId: string): Promise<boolean> {
    const existed = await repo.deleteSession(sessionId);
    if (existed) await publish(subjects.sessionRevoked, { id: newEventId(clock()), sessionId, userId });
    return existed;
  }

  /** Ends every session of the user (but `exceptSessionId`, when given); returns how many ended. */
  async function revokeAllSessions(userId: string, exceptSessionId?: string): Promise<number> {
    const sessionIds = await repo.deleteUserSessions(userId, exceptSessionId);
    for (const sessionId of sessionIds) {
      await publish(subjects.sessionRevoked, { id: newEventId(clock()), sessionId, userId });
    }
    return sessionIds.length;
  }

  /**
   * Announces a deleted account (repo.deleteUser has run): its sessions end and it leaves its rooms
   * as a revocation and a removal would say, so the sync server closes its connections and refuses
   * its tokens; the rooms it was alone in are announced deleted, so their documents and
   * notifications go too; then `user.deleted`, for what other services keep of it.
   */
  async function accountDeleted(
    userId: string,
    rooms: { left: readonly string[]; deleted: readonly string[] },
    sessionIds: readonly string[],
  ) {
    for (const sessionId of sessionIds) {
      await publish(subjects.sessionRevoked, { id: newEventId(clock()), sessionId, userId });
    }
    for (const roomId of rooms.left) await membershipChanged(roomId, userId, null);
    for (const roomId of rooms.deleted) await roomDeleted(roomId, [userId]);
    await publish(subjects.userDeleted, { id: newEventId(clock()), userId });
  }

  /**
   * Announces a deleted room: `room.deleted` first (the sync server closes the room's connections
   * saying so, and deletes its document), then each member's removal (their tokens are refused).
   */
  async function roomDeleted(roomId: string, memberIds: readonly string[]): Promise<void> {
    await publish(subjects.roomDeleted, { id: newEventId(clock()), roomId });
    for (const userId of memberIds) await membershipChanged(roomId, userId, null);
  }

  async function membershipChanged(roomId: string, userId: string, role: Role | null): Promise<void> {
    await publish(subjects.membershipChanged, { id: newEventId(clock()), roomId, userId, role });
  }

  const queues = new Map<string, Promise<unknown>>();

  /** Runs `task` after every earlier task with the same key has finished. */
  async function serialized<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = queues.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => {});
    queues.set(key, tail);
    try {
      return await run;
    } finally {
      if (queues.get(key) === tail) queues.delete(key);
    }
  }

  type ThrottleCheck = { allowed: true } | { allowed: false; retryAfterMs: number };

  /**
   * Starts a login attempt: refused while the account's or the address's
   * bucket is empty; otherwise one token is taken from each BEFORE the
   * password is checked, so parallel guesses cannot all slip through during
   * the Argon2 verification. A success gives them back (loginSucceeded), so
   * in effect only failures cost a token.
   */
  async function beginLoginAttempt(email: string, ip: string): Promise<ThrottleCheck> {
    // Check-and-take is a read and a write of both buckets: serialized per address AND per account within
    // this process, or parallel guesses (each for another account) all read the same address bucket and
    // each take the same token (120 at once went through on PostgreSQL). Across processes it is best effort.
    // Lock order is always address, then account, so two attempts cannot wait for each other.
    return serialized(`ip:${ip}`, () => serialized(`acct:${email}`, () => checkAndTake(email, ip)));
  }

  async function checkAndTake(email: string, ip: string): Promise<ThrottleCheck> {
    const now = clock();
    const accountKey = `acct:${email}`;
    const addressKey = `ip:${ip}`;
    const [account, address] = await Promise.all([repo.bucket(accountKey), repo.bucket(addressKey)]);
    const a = checkBucket(account, THROTTLE_POLICY.account, now);
    const b = checkBucket(address, THROTTLE_POLICY.ip, now);
    const waits = [a, b].flatMap((r) => (r.allowed ? [] : [r.retryAfterMs]));
    if (waits.length > 0) return { allowed: false, retryAfterMs: Math.max(...waits) };
    await Promise.all([
      repo.saveBucket(accountKey, takeToken(account, THROTTLE_POLICY.account, now)),
      repo.saveBucket(addressKey, takeToken(address, THROTTLE_POLICY.ip, now)),
    ]);
    return { allowed: true };
  }

  /** Takes one token from the bucket `key`, or says how long to wait for one. */
  async function takeFrom(key: string, policy: BucketPolicy): Promise<ThrottleCheck> {
    return serialized(key, async () => {
      const now = clock();
      const bucket = await repo.bucket(key);
      const check = checkBucket(bucket, policy, now);
      if (!check.allowed) return check;
      await repo.saveBucket(key, takeToken(bucket, policy, now));
      return { allowed: true };
    });
  }

  /** Takes one registration token from the address's bucket, or says how long to wait for one. */
  function beginRegistration(ip: string): Promise<ThrottleCheck> {
    return takeFrom(`reg:${ip}`, THROTTLE_POLICY.registration);
  }

  /** A forgotten-password request from this address (429 when over). */
  function beginPasswordResetRequest(ip: string): Promise<ThrottleCheck> {
    return takeFrom(`reset:${ip}`, THROTTLE_POLICY.passwordResetAddress);
  }

  /** Whether this account may be sent another reset link now (over: nothing is sent, the answer is the same). */
  async function mayEmailResetLink(userId: string): Promise<boolean> {
    return (await takeFrom(`reset-acct:${userId}`, THROTTLE_POLICY.passwordResetAccount)).allowed;
  }

  /** The right password: the account's bucket is refilled, the address gets its token back. */
  async function loginSucceeded(email: string, ip: string): Promise<void> {
    return serialized(`ip:${ip}`, () => serialized(`acct:${email}`, () => refund(email, ip)));
  }

  async function refund(email: string, ip: string): Promise<void> {
    const now = clock();
    const addressKey = `ip:${ip}`;
    const address = await repo.bucket(addressKey);
    await Promise.all([
      repo.deleteBucket(`acct:${email}`),
      address ? repo.saveBucket(addressKey, giveTokenBack(address, THROTTLE_POLICY.ip, now)) : Promise.resolve(),
    ]);
  }

  /**
   * Sync tokens for the documents the user may open, leaving out the others.
   * One membership query for the whole batch; signing uses the cached key.
   */
  async function issueSyncTokens(
    userId: string,
    sessionId: string,
    documents: readonly string[],
  ): Promise<Map<string, SyncToken>> {
    const wanted = [...new Set(documents)].slice(0, MAX_DOCUMENTS_PER_BATCH);
    const roomIds = roomIdsIn(wanted);
    const roles = roomIds.length > 0 ? await repo.rolesIn(userId, roomIds) : new Map<string, Role>();
    const now = clock();
    const expiresAt = Math.floor((now + SYNC_TOKEN_TTL_MS) / 1000) * 1000;
    const granted = wanted.flatMap((doc) => {
      const role = syncGrant(doc, userId, roles);
      return role ? [{ doc, role }] : [];
    });
    // All at once: jose signs through Web Crypto, which runs on libuv's thread pool, so a batch uses every core.
    const tokens = await Promise.all(
      granted.map(({ doc, role }) => keys.sign({ sub: userId, sid: sessionId, doc, role }, now, SYNC_TOKEN_TTL_MS)),
    );
    const out = new Map<string, SyncToken>();
    granted.forEach(({ doc }, i) => {
      out.set(doc, { token: tokens[i] as string, expiresAt });
    });
    metrics.syncTokens.inc(out.size);
    return out;
  }

  return {
    authenticate,
    createSession,
    revokeSession,
    revokeAllSessions,
    accountDeleted,
    roomDeleted,
    membershipChanged,
    beginLoginAttempt,
    beginRegistration,
    beginPasswordResetRequest,
    mayEmailResetLink,
    loginSucceeded,
    issueSyncTokens,
    publish,
  };
}

export type AuthCore = ReturnType<typeof createAuthCore>;
