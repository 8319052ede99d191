import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Database } from '../db/database';
import { createOutbox } from './outbox';
import type { BusEvent, Delivery, EventBus, SubscribeOptions, Subscription } from './port';
import {
  assertPublishSubject,
  deadLetterFor,
  MAX_DEAD_LETTER_BYTES,
  matchesAny,
  parseEventPayload,
  type ResolvedSubscribeOptions,
  reconnectDelayMs,
  resolveSubscribeOptions,
  retryDelayMs,
  subjectMapper,
  supportsMultipleFilters,
} from './rules';
import { migrateBus } from './schema';

export interface NatsBusOptions {
  /** `nats://host:port` (NATS_URL). */
  readonly url: string;
  /** Holds the outbox (`bus_outbox`) that keeps events while NATS is unreachable. */
  // biome-ignore lint/suspicious/noExplicitAny: any service's database; the bus only touches its own bus_ tables.
  readonly database: Database<any>;
  readonly logger: Logger;
  /** JetStream stream name. Default `CONFAB`; tests use their own. */
  readonly stream?: string;
  /** First subject token on the wire (`confab.x` is sent as `<prefix>.x`). Default `confab`. */
  readonly subjectPrefix?: string;
  /** JetStream's Nats-Msg-Id dedupe window. Default 2 minutes. */
  readonly duplicateWindowMs?: number;
  /** How long the stream keeps events (what a brand-new durable can still see). Default 7 days. */
  readonly maxAgeMs?: number;
  /** First reconnect delay; doubles per failed attempt up to `maxReconnectDelayMs`. Default 500. */
  readonly reconnectDelayMs?: number;
  /** Default 10 s. */
  readonly maxReconnectDelayMs?: number;
  /** Fallback sweep of the outbox (rows another process left, failed relays). Default 1000. */
  readonly relayIntervalMs?: number;
}

export type NatsBus = EventBus & { outboxDepth(): Promise<number> };

const DAY_MS = 24 * 60 * 60 * 1000;
const RELAY_BATCH = 256;
/** A claimed outbox row comes back to the sweep after this long if its relay never finished. */
const RELAY_LEASE_MS = 30_000;
const PUBLISH_TIMEOUT_MS = 5_000;
const HEALTH_PING_TIMEOUT_MS = 1_000;
const FLUSH_TIMEOUT_MS = 2_000;
const FINAL_RELAY_TIMEOUT_MS = 5_000;

/**
 * The event bus over NATS JetStream. `publish` never talks to NATS directly:
 * it writes the database outbox and wakes the relay, which forwards rows to
 * the stream (with `Nats-Msg-Id` = event id) as soon as a connection is up and
 * deletes them once JetStream acknowledged them. So publishing works while
 * NATS is down, and nothing is lost or (within the duplicate window) doubled.
 * Subscriptions are durable pull consumers with explicit acks.
 */
export async function createNatsBus(options: NatsBusOptions): Promise<NatsBus> {
  const { database, logger } = options;
  const log = logger.child({ component: 'bus', adapter: 'nats' });
  const streamName = options.stream ?? 'CONFAB';
  const wire = subjectMapper(options.subjectPrefix ?? 'confab');
  const duplicateWindowMs = options.duplicateWindowMs ?? 2 * 60 * 1000;
  const maxAgeMs = options.maxAgeMs ?? 7 * DAY_MS;
  const baseReconnectMs = options.reconnectDelayMs ?? 500;
  const maxReconnectMs = options.maxReconnectDelayMs ?? 10_000;
  const relayIntervalMs = options.relayIntervalMs ?? 1_000;

  await migrateBus(database);
  const outbox = createOutbox(database);

  let closed = false;
  let closePromise: Promise<void> | null = null;
  const closing = new AbortController();
  let nc: NatsConnection | null = null;
  let js: JetStreamClient | null = null;
  /** Connected AND the stream is known to exist. */
  let ready = false;
  const readyWaiters = new Set<() => void>();
  const runners = new Set<Runner>();

  const wakeWaiters = () => {
    for (const w of readyWaiters) w();
    readyWaiters.clear();
  };

  function setReady(value: boolean): void {
    if (ready !== value) log.debug({ ready: value }, 'bus readiness changed');
    ready = value;
    if (value) {
      wakeWaiters();
      kickRelay();
    }
  }

  /** Resolves with the connection once ready, or null when `cancelled()` turns true (woken by wakeWaiters). */
  async function whenReady(cancelled: () => boolean): Promise<{ nc: NatsConnection; js: JetStreamClient } | null> {
    for (;;) {
      if (cancelled() || closed) return null;
      if (ready && nc && js) return { nc, js };
      await new Promise<void>((resolve) => readyWaiters.add(resolve));
    }
  }

  async function ensureStream(c: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(c);
    const config = {
      subjects: [wire.all],
      duplicate_window: nanos(duplicateWindowMs),
      max_age: nanos(maxAgeMs),
    };
    try {
      await jsm.streams.update(streamName, config);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
      await jsm.streams.add({
        name: streamName,
        ...config,
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
      });
      log.info({ stream: streamName, subjects: config.subjects }, 'created stream');
    }
  }

  /** Ensures the stream on this connection, retrying until it works or the connection is gone. */
  async function prepare(c: NatsConnection): Promise<void> {
    for (let attempt = 0; !closed && !c.isClosed(); attempt++) {
      try {
        await ensureStream(c);
        if (nc !== c) return;
        js = jetstream(c);
        setReady(true);
        return;
      } catch (error) {
        log.warn({ err: error, stream: streamName }, 'could not ensure the stream; retrying');
        await sleep(reconnectDelayMs(baseReconnectMs, maxReconnectMs, attempt), closing.signal);
      }
    }
  }

  /**
   * The stream can vanish under a live connection (an operator deleted it, the server lost its
   * store): publishes then get no responder and consumers report it gone. Ensure it again, once at
   * a time, and tell the consumers to start over.
   */
  let repairing: Promise<void> | null = null;
  function repairStream(): void {
    const c = nc;
    if (!c || closed || repairing) return;
    repairing = ensureStream(c)
      .then(() => {
        for (const runner of runners) runner.restart();
      })
      .catch((error) => log.warn({ err: error, stream: streamName }, 'could not ensure the stream'))
      .finally(() => {
        repairing = null;
      });
  }

  let failedReconnects = 0;
  async function connectLoop(): Promise<void> {
    for (let attempt = 0; !closed; ) {
      let c: NatsConnection;
      try {
        c = await connect({
          servers: options.url,
          name: 'confab-bus',
          maxReconnectAttempts: -1,
          reconnectDelayHandler: () => reconnectDelayMs(baseReconnectMs, maxReconnectMs, failedReconnects++),
          timeout: 5_000,
        });
      } catch (error) {
        log.warn({ err: error, url: options.url, attempt }, 'NATS unreachable; events wait in the outbox');
        await sleep(reconnectDelayMs(baseReconnectMs, maxReconnectMs, attempt++), closing.signal);
        continue;
      }
      attempt = 0;
      if (closed) {
        await c.close();
        return;
      }
      nc = c;
      log.info({ server: c.getServer() }, 'connected to NATS');
      void watchStatus(c);
      await prepare(c);
      await c.closed();
      if (nc === c) {
        nc = null;
        js = null;
        setReady(false);
      }
    }
  }

  async function watchStatus(c: NatsConnection): Promise<void> {
    for await (const status of c.status()) {
      if (status.type === 'disconnect') {
        log.warn({ server: status.server }, 'disconnected from NATS; reconnecting');
        setReady(false);
      } else if (status.type === 'reconnect') {
        failedReconnects = 0;
        log.info({ server: status.server }, 'reconnected to NATS');
        // The server may have come back without our stream (fresh storage): ensure it again. Pull
        // requests sent while its JetStream was still starting got no answer and would only be
        // retried after two missed heartbeats (30 s), so the consumers start over right away.
        void prepare(c).then(() => {
          for (const runner of runners) runner.restart();
        });
      }
    }
  }

  // ---- relay: outbox → JetStream ----
  let relaying: Promise<void> | null = null;
  let relayAgain = false;

  function kickRelay(): void {
    if (closed) return;
    if (relaying) {
      relayAgain = true;
      return;
    }
    relaying = relayLoop().finally(() => {
      relaying = null;
    });
  }

  async function relayLoop(): Promise<void> {
    try {
      do {
        relayAgain = false;
        while (ready && !closed) {
          const sent = await relayBatch();
          if (sent < RELAY_BATCH) break;
        }
      } while (relayAgain && ready && !closed);
    } catch (error) {
      // The sweep timer tries again; the rows are released (or their lease runs out).
      log.warn({ err: error }, 'relaying the outbox failed; will retry');
      if (ready) repairStream();
    }
  }

  async function relayBatch(): Promise<number> {
    const client = js;
    if (!client) return 0;
    const rows = await outbox.claim(RELAY_BATCH, RELAY_LEASE_MS);
    if (rows.length === 0) return 0;
    // Pipelined on one connection, so JetStream stores them in outbox order.
    const results = await Promise.allSettled(
      rows.map((row) =>
        client.publish(wire.toWire(row.subject), row.payload, { msgID: row.id, timeout: PUBLISH_TIMEOUT_MS }),
      ),
    );
    const sent: number[] = [];
    const failed: number[] = [];
    let firstError: unknown = null;
    results.forEach((result, i) => {
      const seq = (rows[i] as { seq: number }).seq;
      if (result.status === 'fulfilled') sent.push(seq);
      else {
        failed.push(seq);
        firstError ??= result.reason;
      }
    });
    await outbox.remove(sent);
    await outbox.release(failed);
    log.debug({ sent: sent.length, failed: failed.length }, 'relayed outbox rows');
    if (firstError) throw firstError;
    return rows.length;
  }

  const sweepTimer = setInterval(kickRelay, relayIntervalMs);
  sweepTimer.unref();

  // ---- subscriptions ----
  async function ensureConsumer(c: NatsConnection, sub: ResolvedSubscribeOptions): Promise<void> {
    const jsm = await jetstreamManager(c);
    const filters = sub.subjects.map(wire.toWire);
    // The two fields exclude each other; the unused one is set to undefined so that an update
    // (which merges into the existing config) drops it.
    const filter: Partial<ConsumerConfig> =
      filters.length === 1
        ? { filter_subject: filters[0] as string, filter_subjects: undefined }
        : supportsMultipleFilters(c.info?.version)
          ? { filter_subjects: filters, filter_subject: undefined }
          : // Older servers take one filter: take the whole stream and filter here (see Runner.handle).
            { filter_subject: wire.all, filter_subjects: undefined };
    // No consumer-level `backoff`: with it, nats-server (seen on 2.9) ignores the delay of a nak after
    // the first redelivery and falls back to the backoff list. The retry backoff is the nak delay below;
    // an unacked delivery (dead process) comes back after ack_wait.
    const editable = {
      ack_wait: nanos(sub.ackWaitMs),
      // One delivery more than the handler gets: a delivery past maxDeliver (the last one timed out)
      // is dead-lettered by the client, so JetStream never drops an event silently.
      max_deliver: sub.maxDeliver + 1,
      max_ack_pending: sub.concurrency,
      // A consumer's pull requests keep it active; a durable with nobody pulling is deleted by the server.
      ...(sub.forgetAfterIdleMs === undefined ? {} : { inactive_threshold: nanos(sub.forgetAfterIdleMs) }),
    };
    try {
      await jsm.consumers.info(streamName, sub.durable);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound)) throw error;
      try {
        await jsm.consumers.add(streamName, {
          durable_name: sub.durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ...editable,
          ...filter,
        });
        return;
      } catch (addError) {
        // Another instance of the durable may have created it a moment ago: then update it below.
        const exists = await jsm.consumers.info(streamName, sub.durable).then(
          () => true,
          () => false,
        );
        if (!exists) throw addError;
      }
    }
    try {
      await jsm.consumers.update(streamName, sub.durable, { ...editable, ...filter });
    } catch (error) {
      log.warn({ err: error, durable: sub.durable }, 'could not update the consumer config; using it as it is');
    }
  }

  class Runner {
    private stopping = false;
    private readonly stopSignal = new AbortController();
    private messages: ConsumerMessages | null = null;
    private readonly inFlight = new Set<Promise<void>>();
    private readonly loop: Promise<void>;
    private readonly slots: Semaphore;

    constructor(
      private readonly sub: ResolvedSubscribeOptions,
      private readonly handler: (delivery: Delivery) => Promise<void>,
    ) {
      this.slots = new Semaphore(sub.concurrency);
      this.loop = this.run();
    }

    /** Creates the consumer now if NATS is up, so subscribe() surfaces config errors. */
    async prime(): Promise<void> {
      if (ready && nc) await ensureConsumer(nc, this.sub);
    }

    private async run(): Promise<void> {
      for (let failures = 0; !this.stopping; ) {
        const conn = await whenReady(() => this.stopping);
        if (!conn) break;
        try {
          await ensureConsumer(conn.nc, this.sub);
          const consumer = await conn.js.consumers.get(streamName, this.sub.durable);
          const messages = await consumer.consume({ max_messages: this.sub.concurrency });
          this.messages = messages;
          log.debug({ durable: this.sub.durable }, 'pulling');
          // close() resolves only once the iterator below has drained, so it is never awaited here.
          if (this.stopping) void messages.close();
          void this.watch(messages);
          const pullingSince = Date.now();
          for await (const msg of messages) {
            await this.slots.acquire();
            if (this.stopping) {
              // Pulled but not started: hand it back at once instead of after the ack wait.
              msg.nak();
              this.slots.release();
              continue;
            }
            const done: Promise<void> = this.handle(msg).finally(() => {
              this.slots.release();
              this.inFlight.delete(done);
            });
            this.inFlight.add(done);
          }
          // Ended by restart(), a lost consumer or a closed connection. If that keeps happening at
          // once (a server whose JetStream is not answering), back off instead of spinning.
          if (Date.now() - pullingSince < 1_000 && !this.stopping) {
            await sleep(reconnectDelayMs(baseReconnectMs, maxReconnectMs, failures++), this.stopSignal.signal);
          } else {
            failures = 0;
          }
        } catch (error) {
          if (this.stopping) break;
          log.warn({ err: error, durable: this.sub.durable }, 'consumer failed; retrying');
          if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) repairStream();
          await sleep(reconnectDelayMs(baseReconnectMs, maxReconnectMs, failures++), this.stopSignal.signal);
        } finally {
          this.messages = null;
        }
      }
    }

    /** Drops the current pull subscription; the loop ensures the consumer and pulls again. */
    restart(): void {
      void this.messages?.close();
    }

    /** A consumer or stream deleted under us does not come back by itself: restart the loop to recreate it. */
    private async watch(messages: ConsumerMessages): Promise<void> {
      for await (const s of messages.status()) {
        if (
          s.type === 'consumer_deleted' ||
          s.type === 'consumer_not_found' ||
          s.type === 'stream_not_found' ||
          s.type === 'no_responders'
        ) {
          log.warn({ durable: this.sub.durable, status: s.type }, 'consumer is gone; recreating it');
          void messages.close();
          return;
        }
      }
    }

    private async handle(msg: JsMsg): Promise<void> {
      const subject = wire.fromWire(msg.subject);
      const attempt = msg.info.deliveryCount;
      const event = parseEventPayload(msg.string());
      if (!event) {
        await this.deadLetter(msg, subject, { id: `unparseable-${msg.seq}`, raw: msg.string() }, attempt, 'malformed');
        return;
      }
      if (!matchesAny(this.sub.subjects, subject)) {
        msg.ack();
        return;
      }
      if (attempt > this.sub.maxDeliver) {
        await this.deadLetter(msg, subject, event, attempt - 1, new Error('no ack before the ack wait ran out'));
        return;
      }
      // Tell JetStream we are alive so a slow handler is not redelivered behind its back.
      const heartbeat = setInterval(() => msg.working(), this.sub.ackWaitMs / 2);
      try {
        await this.handler({ subject, event, attempt });
        msg.ack();
      } catch (error) {
        log.warn(
          { err: error, durable: this.sub.durable, subject, eventId: event.id, attempt },
          'handler failed; the event will be redelivered',
        );
        if (attempt >= this.sub.maxDeliver) await this.deadLetter(msg, subject, event, attempt, error);
        else msg.nak(retryDelayMs(this.sub.backoffMs, attempt));
      } finally {
        clearInterval(heartbeat);
      }
    }

    private async deadLetter(msg: JsMsg, subject: string, event: BusEvent, attempts: number, error: unknown) {
      const letter = deadLetterFor({ durable: this.sub.durable, subject, event, attempts, error, nowMs: Date.now() });
      try {
        // Through the outbox, so the dead letter survives NATS being down; then the original is done for.
        await publish(letter.subject, letter.event, MAX_DEAD_LETTER_BYTES);
        // No reason text: nats-server before 2.10.4 does not recognise `+TERM <reason>` as a term.
        msg.term();
        log.warn({ durable: this.sub.durable, subject, eventId: event.id, attempts }, 'event dead-lettered');
      } catch (publishError) {
        log.error({ err: publishError, durable: this.sub.durable }, 'could not dead-letter; will retry');
        msg.nak(retryDelayMs(this.sub.backoffMs, attempts));
      }
    }

    async stop(): Promise<void> {
      this.stopping = true;
      this.stopSignal.abort();
      wakeWaiters();
      void this.messages?.close();
      await this.loop;
      await Promise.all(this.inFlight);
      // Acks are written to the socket; make sure the server has them before we say stopped. While
      // NATS is down a flush would wait for the reconnect: don't (those events come back, at least once).
      if (ready && nc) await withTimeout(nc.flush(), FLUSH_TIMEOUT_MS).catch(() => {});
    }
  }

  async function publish(subject: string, event: BusEvent, maxBytes?: number): Promise<void> {
    await outbox.add(subject, event, maxBytes);
    kickRelay();
  }

  const connecting = connectLoop();

  async function shutdown(): Promise<void> {
    await Promise.all([...runners].map((r) => r.stop()));
    // A last pass while still connected, so what was just published (or dead-lettered by the
    // stopping consumers) does not wait in this database for the next start.
    if (ready) {
      kickRelay();
      await withTimeout(relaying ?? Promise.resolve(), FINAL_RELAY_TIMEOUT_MS).catch(() => {});
    }
    closed = true;
    closing.abort();
    clearInterval(sweepTimer);
    wakeWaiters();
    await relaying;
    const c = nc;
    nc = null;
    js = null;
    ready = false;
    await c?.close();
    await connecting.catch(() => {});
  }

  return {
    async publish(subject: string, event: BusEvent): Promise<void> {
      assertPublishSubject(subject);
      if (closed) throw new Error('bus is closed');
      await publish(subject, event);
    },

    async subscribe(subscribeOptions: SubscribeOptions): Promise<Subscription> {
      const sub = resolveSubscribeOptions(subscribeOptions);
      if (closed) throw new Error('bus is closed');
      const runner = new Runner(sub, subscribeOptions.handler);
      runners.add(runner);
      let stopped: Promise<void> | null = null;
      const stop = () => {
        stopped ??= runner.stop().finally(() => runners.delete(runner));
        return stopped;
      };
      try {
        await runner.prime();
      } catch (error) {
        await stop();
        throw error;
      }
      return { stop };
    },

    async healthy(): Promise<boolean> {
      const c = nc;
      if (!ready || !c || c.isClosed()) return false;
      try {
        await withTimeout(c.flush(), HEALTH_PING_TIMEOUT_MS);
        return true;
      } catch {
        return false;
      }
    },

    outboxDepth: () => outbox.depth(),

    close(): Promise<void> {
      closePromise ??= shutdown();
      return closePromise;
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`, or at once when `signal` aborts (close() must not wait out a reconnect delay). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

class Semaphore {
  private available: number;
  private readonly waiting: (() => void)[] = [];
  constructor(size: number) {
    this.available = size;
  }
  async acquire(): Promise<void> {
    if (this.available > 0) {
      this.available--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.available++;
  }
}
