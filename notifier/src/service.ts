import { randomBytes } from 'node:crypto';
import type https from 'node:https';
import path from 'node:path';
import type {
  Database,
  Directory,
  EventBus,
  Logger,
  ServiceHandle,
  SessionVerifier,
  Subscription,
} from '@confab/platform';
import { httpRequestHistogram, migrate } from '@confab/platform';
import { subjects } from '@confab/protocol';
import { getRequestListener } from '@hono/node-server';
import { Registry } from 'prom-client';
import { cacheDirectory } from './adapters/directory-cache';
import { createMailer, type Mailer } from './adapters/mailer';
import { createNotifierMetrics } from './adapters/metrics';
import { createWebPushSender, generateVapidKeys, type VapidKeys } from './adapters/push';
import { createRepository } from './adapters/repository';
import { type NotifierTables, notifierMigrations } from './adapters/schema';
import type { NotifierConfig } from './config';
import { createEventHandler } from './consumer';
import { createDispatcher } from './dispatcher';
import { passwordResetUrl, renderPasswordReset } from './domain/content';
import { createNotifierApp } from './http/app';
import { createStreamHub } from './streams';

/** The durable consumer's name: one cursor shared by every notifier instance. */
export const CONSUMER_NAME = 'notifier';
/** Deliveries of one event before the bus dead-letters it. */
export const MAX_DELIVER = 5;

export interface StartNotifierOptions {
  readonly config: NotifierConfig;
  readonly logger: Logger;
  // biome-ignore lint/suspicious/noExplicitAny: the database may be shared with other services' tables.
  readonly database: Database<any>;
  readonly bus: EventBus;
  readonly sessions: SessionVerifier;
  readonly directory: Directory;
  readonly registry?: Registry;
  readonly clock?: () => number;
  /** How often due pushes and emails are looked for, in real milliseconds. Default 1000. */
  readonly dispatchIntervalMs?: number;
  /** SSE heartbeat interval. Default 15 s. */
  readonly heartbeatMs?: number;
  /** How long room memberships are cached (membership events invalidate them sooner). Default 60 s. */
  readonly directoryCacheMs?: number;
  /** The HTTPS agent for push services (tests pass one trusting their certificate). */
  readonly pushAgent?: https.Agent;
  /** Replaces the SMTP / .eml mailer (tests). */
  readonly mailer?: Mailer;
  /** Delays between redeliveries of an event whose handling failed (the bus's default when unset). */
  readonly retryBackoffMs?: readonly number[];
  /** DNS used to check push endpoints (tests). */
  readonly lookup?: (hostname: string) => Promise<{ address: string; family: number }[]>;
}

export interface NotifierHandle extends ServiceHandle {
  /** Runs the delivery scheduler now instead of at its next tick (tests, benchmarks). */
  dispatchNow(): Promise<void>;
  readonly vapidPublicKey: string;
}

export async function startNotifier(options: StartNotifierOptions): Promise<NotifierHandle> {
  const { config, database, bus } = options;
  const logger = options.logger.child({ service: 'notifier' });
  const clock = options.clock ?? Date.now;
  await migrate(database.db, 'notifier', notifierMigrations(database.kind));
  const repo = createRepository(database as Database<NotifierTables>);

  const vapid: VapidKeys = config.vapid ?? {
    ...(JSON.parse(await repo.settingOrCreate('vapid_keys', () => JSON.stringify(generateVapidKeys()))) as {
      publicKey: string;
      privateKey: string;
    }),
    subject: config.vapidSubject ?? `mailto:notifications@${new URL(config.publicUrl).hostname}`,
  };
  const unsubscribeSecret =
    config.unsubscribeSecret ??
    (await repo.settingOrCreate('unsubscribe_secret', () => randomBytes(32).toString('base64url')));

  const registry = options.registry ?? new Registry();
  const metrics = createNotifierMetrics(registry);
  const directory = cacheDirectory(options.directory, { ttlMs: options.directoryCacheMs ?? 60_000, clock });
  const streams = createStreamHub();
  const mailer =
    options.mailer ??
    createMailer({ smtpUrl: config.smtpUrl, from: config.emailFrom, mailDir: path.join(config.dataDir, 'mail') });
  const push = createWebPushSender({
    vapid,
    allowPrivateEndpoints: config.pushAllowPrivateEndpoints,
    clock,
    ...(options.pushAgent ? { agent: options.pushAgent } : {}),
  });
  const dispatcher = createDispatcher({
    repo,
    directory,
    push,
    mailer,
    logger,
    metrics,
    clock,
    publicUrl: config.publicUrl,
    unsubscribeSecret,
    intervalMs: options.dispatchIntervalMs ?? 1000,
  });
  await dispatcher.start();

  const handler = createEventHandler({
    repo,
    directory,
    logger,
    metrics,
    clock,
    maxDeliver: MAX_DELIVER,
    onNotified: (userIds) => streams.notify(userIds),
    onDeliveriesRecorded: () => void dispatcher.kick(),
    onSessionRevoked: (sessionId) => streams.revokeSession(sessionId),
    async sendPasswordReset(event) {
      const minutes = Math.max(1, Math.round((event.expiresAt - clock()) / 60_000));
      const mail = renderPasswordReset(event.displayName, passwordResetUrl(config.publicUrl, event.token), minutes);
      try {
        await mailer.send({
          to: event.email,
          ...mail,
          // A redelivery after a crash between the send and the ack carries the same id.
          messageId: `<${event.id}@confab.notifier>`,
          headers: { 'Auto-Submitted': 'auto-generated' },
        });
      } catch (error) {
        metrics.deliveries.inc({ channel: 'email', result: 'retry' });
        throw error;
      }
      metrics.deliveries.inc({ channel: 'email', result: 'sent' });
      logger.info({ userId: event.userId }, 'password reset link sent');
    },
  });
  let subscription: Subscription;
  try {
    subscription = await bus.subscribe({
      durable: CONSUMER_NAME,
      subjects: [subjects.allRoomEvents, subjects.allAuthEvents],
      handler,
      maxDeliver: MAX_DELIVER,
      ackWaitMs: config.ackWaitMs,
      ...(options.retryBackoffMs ? { backoffMs: options.retryBackoffMs } : {}),
    });
  } catch (error) {
    // Nothing may keep running when the start fails (the caller exits or retries).
    await dispatcher.stop();
    mailer.close();
    throw error;
  }

  const app = createNotifierApp({
    repo,
    sessions: options.sessions,
    directory,
    streams,
    logger,
    clock,
    publicUrl: config.publicUrl,
    allowPrivatePushEndpoints: config.pushAllowPrivateEndpoints,
    vapidPublicKey: vapid.publicKey,
    unsubscribeSecret,
    heartbeatMs: options.heartbeatMs ?? 15_000,
    streamPollMs: 5000,
    histogram: httpRequestHistogram(registry, 'confab_notifier'),
    ...(options.lookup ? { lookup: options.lookup } : {}),
  });
  const listener = getRequestListener(app.fetch);

  let stopping: Promise<void> | null = null;
  logger.info({ vapidPublicKey: vapid.publicKey }, 'notifier started');
  return {
    name: 'notifier',
    vapidPublicKey: vapid.publicKey,
    handleRequest: (req, res) => void listener(req, res),
    ready: async () => (await repo.ping()) && (await bus.healthy().catch(() => false)),
    dispatchNow: () => dispatcher.kick(),
    stop() {
      stopping ??= (async () => {
        // Stop taking events first (in-flight ones finish and are acked),
        // then let the running dispatch finish, then close the streams.
        await subscription.stop();
        await dispatcher.stop();
        streams.closeAll();
        mailer.close();
        logger.info('notifier stopped');
      })();
      return stopping;
    },
  };
}
