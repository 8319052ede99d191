import type { Logger } from 'pino';
import type { CachedDirectory } from './adapters/directory-cache';
import type { Mailer } from './adapters/mailer';
import type { NotifierMetrics } from './adapters/metrics';
import { type PushSender, pushTopic } from './adapters/push';
import type { NotifierRepository, PendingDelivery } from './adapters/repository';
import { type DigestItem, pushPayload, renderDigest, roomUrl } from './domain/content';
import { levelAllows } from './domain/decide';
import { DEFAULT_PREFERENCES, levelFor, type Preferences } from './domain/preferences';
import { unsubscribeToken } from './domain/unsubscribe';

/** Tries before a push or email is given up on. */
export const MAX_SEND_ATTEMPTS = 6;
const PUSH_BATCH = 100;
const EMAIL_USERS_BATCH = 20;
/** Pushes in flight at once: push services are slow to answer, the notifier should not wait for each. */
const PUSH_CONCURRENCY = 8;
/** How long a push service keeps a notification for an offline device. */
const PUSH_TTL_SECONDS = { mention: 24 * 3600, reply: 24 * 3600, message: 4 * 3600 } as const;

const DAY_MS = 24 * 60 * 60 * 1000;
/** How long history is kept: finished deliveries, in-app notifications, message authors (for replies). */
export const RETENTION = { deliveriesMs: 30 * DAY_MS, notificationsMs: 90 * DAY_MS, messagesMs: 90 * DAY_MS } as const;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** 1 s, 2 s, 4 s, … capped at 10 minutes. */
export function backoffMs(attempts: number): number {
  return Math.min(1000 * 2 ** Math.max(0, attempts - 1), 10 * 60_000);
}

export interface DispatcherDeps {
  readonly repo: NotifierRepository;
  readonly directory: CachedDirectory;
  readonly push: PushSender;
  readonly mailer: Mailer;
  readonly logger: Logger;
  readonly metrics: NotifierMetrics;
  readonly clock: () => number;
  readonly publicUrl: string;
  readonly unsubscribeSecret: string;
  /** How often due deliveries are looked for (real time; what is due follows `clock`). */
  readonly intervalMs: number;
}

/**
 * Sends what is due: pushes (now, or when quiet hours end) and the delayed
 * email batches. Each delivery was recorded before this runs; it is claimed
 * (`sending`), sent, then marked, so a crash leaves it to the next start.
 */
export function createDispatcher(deps: DispatcherDeps) {
  const { repo, logger, metrics, clock } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let lastPruneMs = Number.NEGATIVE_INFINITY;

  async function pruneWhenDue(): Promise<void> {
    const nowMs = clock();
    if (nowMs - lastPruneMs < PRUNE_EVERY_MS) return;
    lastPruneMs = nowMs;
    const removed = await repo.prune({
      deliveriesMs: nowMs - RETENTION.deliveriesMs,
      notificationsMs: nowMs - RETENTION.notificationsMs,
      messagesMs: nowMs - RETENTION.messagesMs,
    });
    if (removed > 0) logger.info({ removed }, 'pruned old notification history');
  }

  async function sendPush(delivery: PendingDelivery, preferencesNow: Map<string, Preferences>): Promise<void> {
    const subscription = await repo.pushSubscription(delivery.target);
    if (!subscription || subscription.userId !== delivery.userId) {
      await repo.finish(delivery, { status: 'cancelled', error: 'subscription removed' });
      return;
    }
    // Preferences may have changed since the push was scheduled (quiet hours hold pushes for hours).
    const preferences = preferencesNow.get(delivery.userId) ?? DEFAULT_PREFERENCES;
    if (!preferences.push || !levelAllows(levelFor(preferences, delivery.roomId), delivery.kind)) {
      await repo.finish(delivery, { status: 'cancelled', error: 'turned off in preferences' });
      return;
    }
    const payload = pushPayload({
      title: delivery.title,
      body: delivery.body,
      roomId: delivery.roomId,
      messageId: delivery.messageId,
      url: roomUrl(deps.publicUrl, delivery.roomId),
    });
    let handedOff: Promise<void> = Promise.resolve();
    const outcome = await deps.push.send(
      {
        endpoint: subscription.endpoint,
        keys: subscription,
        payload,
        ttlSeconds: PUSH_TTL_SECONDS[delivery.kind],
        urgency: delivery.kind === 'message' ? 'normal' : 'high',
        topic: pushTopic(delivery.roomId),
      },
      () => {
        handedOff = repo.handedOff(delivery);
      },
    );
    // The hand-off is recorded before the outcome, so the row never goes back from `sent`.
    await handedOff.catch((error) => logger.warn({ err: error }, 'recording a push hand-off failed'));
    const nowMs = clock();
    metrics.deliveries.inc({ channel: 'push', result: outcome.kind });
    const attempts = delivery.attempts + 1;
    switch (outcome.kind) {
      case 'sent':
        metrics.deliveryLatency.observe({ channel: 'push' }, Math.max(0, nowMs - delivery.createdAt) / 1000);
        await repo.finish(delivery, { status: 'sent', nowMs });
        return;
      case 'gone':
        await repo.deletePushSubscription(subscription.endpoint);
        await repo.finish(delivery, { status: 'cancelled', error: 'subscription gone' });
        logger.info({ userId: delivery.userId }, 'push subscription expired; removed');
        return;
      case 'rate_limited':
        // Not counted as an attempt: the push service told us when to come back.
        await repo.finish(delivery, {
          status: 'pending',
          dueAtMs: nowMs + outcome.retryAfterMs,
          attempts: delivery.attempts,
          error: 'rate limited',
        });
        return;
      case 'retry':
        if (attempts >= MAX_SEND_ATTEMPTS) {
          await repo.finish(delivery, { status: 'failed', error: outcome.error });
        } else {
          await repo.finish(delivery, {
            status: 'pending',
            dueAtMs: nowMs + backoffMs(attempts),
            attempts,
            error: outcome.error,
          });
        }
        return;
      case 'rejected':
        logger.warn({ userId: delivery.userId, error: outcome.error }, 'push refused');
        await repo.finish(delivery, { status: 'failed', error: outcome.error });
        return;
    }
  }

  async function runPushes(): Promise<number> {
    const due = await repo.duePushes(clock(), PUSH_BATCH);
    const claimed = await repo.claim(due);
    // One preferences query per batch, not per push.
    const preferencesNow = await repo.preferencesOf([...new Set(claimed.map((d) => d.userId))]);
    const queue = [...claimed];
    const workers = Array.from({ length: Math.min(PUSH_CONCURRENCY, queue.length) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        try {
          await sendPush(next, preferencesNow);
        } catch (error) {
          logger.error({ err: error }, 'push delivery failed unexpectedly');
          await repo.finish(next, {
            status: 'pending',
            dueAtMs: clock() + backoffMs(next.attempts + 1),
            attempts: next.attempts + 1,
            error: String(error),
          });
        }
      }
    });
    await Promise.all(workers);
    return due.length;
  }

  async function sendEmailBatch(userId: string): Promise<void> {
    const pending = await repo.pendingEmailsOf(userId);
    const claimed = await repo.claim(pending);
    if (claimed.length === 0) return;
    const user = await deps.directory.user(userId);
    if (!user?.email) {
      for (const d of claimed) await repo.finish(d, { status: 'cancelled', error: 'no email address' });
      return;
    }
    // Preferences may have changed during the delay: an unsubscribe or a muted room stops what is waiting.
    const preferences = (await repo.preferencesOf([userId])).get(userId) ?? DEFAULT_PREFERENCES;
    const wanted: PendingDelivery[] = [];
    for (const d of claimed) {
      if (preferences.email && levelAllows(levelFor(preferences, d.roomId), d.kind)) wanted.push(d);
      else await repo.finish(d, { status: 'cancelled', error: 'turned off in preferences' });
    }
    if (wanted.length === 0) return;
    const items: DigestItem[] = [];
    for (const d of wanted) {
      const room = await deps.directory.room(d.roomId);
      items.push({
        roomId: d.roomId,
        roomName: room?.name ?? 'a room',
        title: d.title,
        body: d.body,
        createdAt: d.createdAt,
      });
    }
    const unsubscribeUrl = `${deps.publicUrl}/api/notifications/unsubscribe?token=${unsubscribeToken(deps.unsubscribeSecret, userId)}`;
    const digest = renderDigest(items, deps.publicUrl, unsubscribeUrl);
    const first = wanted[0] as PendingDelivery;
    try {
      await deps.mailer.send({
        to: user.email,
        subject: digest.subject,
        text: digest.text,
        html: digest.html,
        // Stable for this batch: a resend after a crash carries the same id.
        messageId: `<${first.eventId}.${userId}@confab.notifier>`,
        headers: {
          'List-Unsubscribe': `<${unsubscribeUrl}>`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
          'Auto-Submitted': 'auto-generated',
        },
      });
    } catch (error) {
      metrics.deliveries.inc({ channel: 'email', result: 'retry' }, wanted.length);
      const attempts = Math.max(...wanted.map((d) => d.attempts)) + 1;
      logger.warn({ err: error, userId, attempts }, 'sending the email failed');
      for (const d of wanted) {
        await repo.finish(
          d,
          attempts >= MAX_SEND_ATTEMPTS
            ? { status: 'failed', error: String(error) }
            : { status: 'pending', dueAtMs: clock() + backoffMs(attempts), attempts, error: String(error) },
        );
      }
      return;
    }
    const nowMs = clock();
    for (const d of wanted) {
      await repo.finish(d, { status: 'sent', nowMs });
      metrics.deliveryLatency.observe({ channel: 'email' }, Math.max(0, nowMs - d.createdAt) / 1000);
    }
    metrics.deliveries.inc({ channel: 'email', result: 'sent' }, wanted.length);
  }

  async function runEmails(): Promise<number> {
    const users = await repo.usersWithDueEmail(clock(), EMAIL_USERS_BATCH);
    for (const userId of users) {
      try {
        await sendEmailBatch(userId);
      } catch (error) {
        logger.error({ err: error, userId }, 'email batch failed unexpectedly');
      }
    }
    return users.length;
  }

  async function drain(): Promise<void> {
    do {
      again = false;
      try {
        const pushes = await runPushes();
        const emails = await runEmails();
        await pruneWhenDue();
        if (pushes >= PUSH_BATCH || emails >= EMAIL_USERS_BATCH) again = true;
      } catch (error) {
        logger.error({ err: error }, 'dispatcher run failed');
      }
    } while (again && !stopped);
  }

  /** Runs now, or right after the run in progress. Resolves when that run is over. */
  function kick(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = drain().finally(() => {
      running = null;
    });
    return running;
  }

  return {
    kick,
    async start(): Promise<void> {
      const released = await repo.releaseInFlight(clock());
      if (released.retried + released.assumedSent > 0) {
        logger.warn(released, 'deliveries interrupted by the last stop: unsent ones retried, handed-off ones counted');
      }
      timer = setInterval(() => void kick(), deps.intervalMs);
      timer.unref();
      void kick();
    },
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
