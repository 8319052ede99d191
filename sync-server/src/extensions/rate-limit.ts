import { CLOSE } from '@confab/protocol';
import type { beforeSyncPayload, Connection, Extension } from '@hocuspocus/server';
import type { Logger } from 'pino';
import { messageYjsSyncStep2, messageYjsUpdate } from 'y-protocols/sync';
import { CloseError, isSyncContext } from './context';
import type { SyncMetrics } from './metrics';
import { closeSocket, isEmptyUpdate } from './update-pipeline';

/** A token bucket's size and refill rate. */
export interface BucketLimits {
  /** Sustained rate: tokens added per second. */
  readonly perSecond: number;
  /** Capacity: how many may be taken at once after a quiet spell. */
  readonly burst: number;
}

/** A bucket's level at a moment; a missing bucket is a full one. */
export interface Bucket {
  readonly tokens: number;
  readonly atMs: number;
}

/** The bucket's level at `nowMs`: refilled at `perSecond` since it was last seen, never above `burst`. */
export function refill(bucket: Bucket | undefined, nowMs: number, limits: BucketLimits): Bucket {
  if (!bucket) return { tokens: limits.burst, atMs: nowMs };
  const elapsedMs = Math.max(0, nowMs - bucket.atMs);
  return { tokens: Math.min(limits.burst, bucket.tokens + (elapsedMs / 1000) * limits.perSecond), atMs: nowMs };
}

/**
 * Takes one token from every bucket, or from none when any of them is empty:
 * an update refused by the user's bucket does not also drain the connection's.
 * Returns the new levels and, when refused, the index of the first empty bucket.
 */
export function takeFromAll(
  buckets: ReadonlyArray<{ bucket: Bucket | undefined; limits: BucketLimits }>,
  nowMs: number,
): { allowed: true; buckets: Bucket[] } | { allowed: false; emptyIndex: number; buckets: Bucket[] } {
  const levels = buckets.map(({ bucket, limits }) => refill(bucket, nowMs, limits));
  const emptyIndex = levels.findIndex((level) => level.tokens < 1);
  if (emptyIndex !== -1) return { allowed: false, emptyIndex, buckets: levels };
  return { allowed: true, buckets: levels.map((level) => ({ tokens: level.tokens - 1, atMs: nowMs })) };
}

export interface UpdateRateLimitOptions {
  /** Per connection (one document on one socket). */
  perConnection: BucketLimits;
  /** Per user, across all their connections on this instance (a reconnect does not refill it). */
  perUser: BucketLimits;
  metrics: SyncMetrics;
  logger: Logger;
  clock: () => number;
}

/**
 * Limits how many non-empty updates a connection, and a user across their
 * connections on this instance, may have applied. Every accepted update costs
 * the guard and Yjs work that can grow with the room (an append behind many
 * unseen messages walks them), so a member flooding accepted updates could
 * otherwise hog the event loop. The provider sends everything it has
 * gathered offline as ONE sync step 2, so a device flushing its queue costs
 * one token per document, and humans stay far below the defaults.
 *
 * Over the limit the socket is closed with 4429 `rate_limited`; the update is
 * not applied (this hook runs before the update pipeline), so the provider
 * keeps it and sends it again after reconnecting with backoff.
 */
export class UpdateRateLimit implements Extension {
  readonly extensionName = 'confab-update-rate-limit';
  /** After auth (900), before the update pipeline (100): a refused update never takes the document lock. */
  readonly priority = 200;
  private readonly byConnection = new WeakMap<Connection, Bucket>();
  private readonly byUser = new Map<string, Bucket>();
  private lastSweepMs = 0;

  constructor(private readonly options: UpdateRateLimitOptions) {}

  async beforeSync({ connection, documentName, type, payload }: beforeSyncPayload): Promise<void> {
    if (type !== messageYjsSyncStep2 && type !== messageYjsUpdate) return;
    // Nothing is applied from read-only connections, and an empty step 2 costs nothing.
    if (connection.readOnly || isEmptyUpdate(payload)) return;
    const context = connection.context;
    if (!isSyncContext(context)) return;
    const { perConnection, perUser, metrics, logger, clock } = this.options;
    const nowMs = clock();
    this.sweep(nowMs);
    const outcome = takeFromAll(
      [
        { bucket: this.byConnection.get(connection), limits: perConnection },
        { bucket: this.byUser.get(context.userId), limits: perUser },
      ],
      nowMs,
    );
    this.byConnection.set(connection, outcome.buckets[0] as Bucket);
    this.byUser.set(context.userId, outcome.buckets[1] as Bucket);
    if (outcome.allowed) return;
    const scope = outcome.emptyIndex === 0 ? 'connection' : 'user';
    metrics.rateLimited.inc({ scope });
    logger.warn({ documentName, userId: context.userId, scope }, 'update rate limit exceeded; closing the socket');
    closeSocket(connection, CLOSE.rateLimited);
    throw new CloseError(CLOSE.rateLimited, `too many updates per ${scope}`);
  }

  /** Drops user buckets that have refilled completely: a full bucket is the same as none. */
  private sweep(nowMs: number): void {
    const fullAfterMs = (this.options.perUser.burst / this.options.perUser.perSecond) * 1000;
    if (nowMs - this.lastSweepMs < Math.max(fullAfterMs, 60_000)) return;
    this.lastSweepMs = nowMs;
    for (const [userId, bucket] of this.byUser) {
      if (nowMs - bucket.atMs >= fullAfterMs) this.byUser.delete(userId);
    }
  }
}
