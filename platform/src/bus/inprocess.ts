import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/database';
import { groupCommit } from '../db/group-commit';
import { InsertCompiler } from '../db/insert-compiler';
import { PgArrayInsert, type RowInserts } from '../db/pg-array-insert';
import type { BusEvent, Delivery, EventBus, SubscribeOptions, Subscription } from './port';
import {
  assertPublishSubject,
  deadLetterFor,
  describeError,
  matchesAny,
  type ResolvedSubscribeOptions,
  resolveSubscribeOptions,
  retryDelayMs,
  serializeEvent,
} from './rules';
import { type BusTables, busDb, migrateBus } from './schema';

export interface InProcessBusOptions {
  // biome-ignore lint/suspicious/noExplicitAny: any service's database; the bus only touches its own bus_ tables.
  readonly database: Database<any>;
  readonly logger: Logger;
  /** Fallback poll for events written by other processes (shared PostgreSQL) and for lost leases. Default 1000. */
  readonly pollIntervalMs?: number;
  /** Events older than this are pruned (and can no longer be deduped or replayed). Default 7 days. */
  readonly retentionMs?: number;
  /** How often old events are pruned. Default 60 s. */
  readonly pruneIntervalMs?: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

export type InProcessBus = EventBus & { outboxDepth(): Promise<number> };

const DEFAULT_POLL_INTERVAL_MS = 1_000;
const DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
const PRUNE_INTERVAL_MS = 60_000;
/** pg_advisory_xact_lock key serializing inserts into bus_events (any constant unique to this use). */
const BUS_EVENTS_INSERT_LOCK = 0x62_75_73_5f_65_76; // "bus_ev"
/**
 * Events scanned per claim when looking past a durable's cursor. The scan reads only seq and subject;
 * the payloads are read for the events that match. A subscriber of a few subjects (the sync server's
 * auth events) otherwise read every event's payload, a room's messages included: at 4,400 events/s,
 * 17 claims a second of 256 payloads each, 3% of the sync server's event loop.
 */
const SCAN_BATCH = 2048;
/** Payloads read per statement for the events a scan matched. */
const PAYLOAD_CHUNK = 500;

/**
 * State shared by every bus built on the same database handle (one process):
 * - wake-ups, so a publish (or an ack) through one wakes the subscriptions of
 *   all of them at once instead of at their next poll;
 * - acks not yet written, per durable: the next claim round of ANY local
 *   subscriber of that durable writes them in its own transaction (one write
 *   per event instead of two), so no subscriber waits on another's acks.
 */
interface SharedState {
  /** Wake-up → the durable of its subscription and the subjects it filters on. */
  readonly wakers: Map<() => void, { readonly durable: string; readonly subjects: readonly string[] }>;
  readonly acks: Map<string, number[]>;
}
const sharedByDatabase = new WeakMap<object, SharedState>();

function sharedStateOf(database: object): SharedState {
  let state = sharedByDatabase.get(database);
  if (!state) {
    state = { wakers: new Map(), acks: new Map() };
    sharedByDatabase.set(database, state);
  }
  return state;
}

/** Takes (and clears) the acks waiting to be written for `durable`. */
function takeAcks(state: SharedState, durable: string): number[] {
  const acks = state.acks.get(durable) ?? [];
  state.acks.delete(durable);
  return acks;
}

function addAcks(state: SharedState, durable: string, seqs: number[]): void {
  if (seqs.length === 0) return;
  const list = state.acks.get(durable);
  if (list) list.push(...seqs);
  else state.acks.set(durable, [...seqs]);
}

interface Claimed {
  readonly seq: number;
  readonly subject: string;
  readonly payload: string;
  readonly attempt: number;
}

interface ClaimResult {
  readonly deliveries: Claimed[];
  /** The scan stopped at its batch size: there may be more events right away. */
  readonly more: boolean;
  /** When the earliest waiting retry or lost lease becomes due (epoch ms), if any. */
  readonly nextDueAt: number | null;
  readonly deadLettered: number;
}

/**
 * The all-in-one event bus: the database is the log. `publish` inserts into
 * `bus_events` (dropping a known id) and wakes local subscribers; each durable
 * keeps its cursor in `bus_consumers` and its unacked events in `bus_pending`,
 * so a restart resumes exactly where the acks stopped. On PostgreSQL the claim
 * step locks the durable's row (`select … for update`), so several processes
 * sharing the database hand each event of a durable to one of them only.
 */
export async function createInProcessBus(options: InProcessBusOptions): Promise<InProcessBus> {
  const { database, logger } = options;
  const log = logger.child({ component: 'bus', adapter: 'inprocess' });
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const now = options.now ?? Date.now;
  const isPg = database.kind === 'postgres';
  await migrateBus(database);
  const db = busDb(database);
  const shared = sharedStateOf(database);
  const wakers = shared.wakers;
  const runners = new Set<Runner>();
  let closed = false;
  let closePromise: Promise<void> | null = null;
  let rotation = 0;

  /**
   * Wakes the local subscriptions that can have work: every one, those of one durable (a finished
   * delivery frees capacity only there), or those whose filters match a published subject. A
   * subscription woken for nothing would still run a claim round (a transaction, on SQLite an fsync'd
   * commit) only to move its cursor; events it does not want are skipped by its next real round.
   */
  const notify = (only?: { durable: string } | { subjects: readonly string[] }) => {
    // Rotate who is woken first: claims run in call order, so a fixed order would let the first
    // subscriber of a shared durable take every event and starve the others.
    const list = [...wakers]
      .filter(([, w]) =>
        only === undefined
          ? true
          : 'durable' in only
            ? w.durable === only.durable
            : only.subjects.some((subject) => matchesAny(w.subjects, subject)),
      )
      .map(([wake]) => wake);
    if (list.length === 0) return;
    const start = rotation++ % list.length;
    for (let i = 0; i < list.length; i++) list[(start + i) % list.length]?.();
  };

  interface NewEvent {
    readonly id: string;
    readonly subject: string;
    readonly payload: string;
  }

  async function insertEvent(trx: Kysely<BusTables>, subject: string, event: BusEvent): Promise<void> {
    await insertEvents(trx, [{ id: event.id, subject, payload: JSON.stringify(event) }]);
  }

  async function insertEvents(executor: Kysely<BusTables>, items: NewEvent[]): Promise<void> {
    // PostgreSQL: one statement. SQLite: one per 64 events, so a larger batch outside a transaction
    // gets one of its own: every event of the batch is stored, or none (the callers are all told).
    const statements = compileEventInserts(items);
    if (statements.length > 1 && !executor.isTransaction) {
      await executor.transaction().execute(async (trx) => {
        for (const statement of statements) await trx.executeQuery(statement);
      });
      return;
    }
    for (const statement of statements) await executor.executeQuery(statement);
  }

  /**
   * The insert of new events (publishes and the sync server's append path run it on every group
   * commit): on SQLite multi-row statements compiled once per row count, on PostgreSQL one statement of
   * column arrays for any number of events (PgArrayInsert). A duplicate id, already stored or twice in this batch, is dropped
   * (the dedupe rule).
   *
   * On PostgreSQL the statement takes the bus's insert lock itself. Cursors assume seq order = commit
   * order, and PostgreSQL hands out identity values at insert, so two concurrent transactions could
   * commit 11 before 10, and a claim between the two commits would move a cursor past 10 for good.
   * Inserting under one transaction-scoped lock makes the orders agree. The lock is the filter of the
   * rows inserted, so it is held before the first row takes its seq, and until the commit; being part
   * of the insert, it costs no statement of its own, and the sync server can fold the whole insert
   * into its append's single statement (pgSingleStatement). (SQLite has a single writer.)
   */
  const eventInserts: RowInserts<NewEvent & { created_at: number }> = isPg
    ? new PgArrayInsert('bus_events', EVENT_COLUMNS, {
        // A scalar subquery: evaluated once, before the first row comes through the filter.
        where: `(select pg_advisory_xact_lock(${BUS_EVENTS_INSERT_LOCK})) is not null`,
        onConflict: 'on conflict ("id") do nothing',
      })
    : new InsertCompiler(['id', 'subject', 'payload', 'created_at'], (rows) =>
        db
          .insertInto('bus_events')
          .values(rows)
          .onConflict((oc) => oc.column('id').doNothing()),
      );

  function compileEventInserts(items: readonly NewEvent[]) {
    const t = now();
    return eventInserts.compile(items.map((item) => ({ ...item, created_at: t })));
  }

  function newEvents(events: ReadonlyArray<{ subject: string; event: BusEvent }>): NewEvent[] {
    for (const e of events) assertPublishSubject(e.subject);
    return events.map((e) => ({ id: e.event.id, subject: e.subject, payload: serializeEvent(e.event) }));
  }

  /**
   * Concurrent publishes share one transaction (one fsync on SQLite). On SQLite a write that starts from
   * idle first lets the current turn finish, so the publishes of one turn (one batch of socket reads)
   * share it rather than the first going alone.
   */
  const append = groupCommit<NewEvent>((items) => insertEvents(db, items), { collectUntilNextTurn: !isPg });

  async function deadLetter(
    trx: Kysely<BusTables>,
    durable: string,
    event: { subject: string; payload: string },
    attempts: number,
    error: unknown,
  ): Promise<void> {
    let original: BusEvent;
    try {
      original = JSON.parse(event.payload) as BusEvent;
    } catch {
      original = { id: 'unparseable', payload: event.payload };
    }
    const letter = deadLetterFor({ durable, subject: event.subject, event: original, attempts, error, nowMs: now() });
    await insertEvent(trx, letter.subject, letter.event);
    log.warn({ durable, subject: event.subject, eventId: original.id, attempts }, 'event dead-lettered');
  }

  /**
   * One transaction per round: records the acks since the last round (deleting their pending rows),
   * then hands out up to `want` events: due retries and lost leases first, then new events past the cursor.
   */
  async function claim(
    sub: ResolvedSubscribeOptions,
    owner: string,
    want: number,
    acked: number[],
  ): Promise<ClaimResult> {
    return db.transaction().execute(async (trx) => {
      const t = now();
      if (acked.length > 0) {
        await trx.deleteFrom('bus_pending').where('durable', '=', sub.durable).where('seq', 'in', acked).execute();
      }
      let consumerQuery = trx.selectFrom('bus_consumers').select('last_seq').where('durable', '=', sub.durable);
      if (isPg) consumerQuery = consumerQuery.forUpdate();
      const consumer = await consumerQuery.executeTakeFirst();
      let lastSeq = Number(consumer?.last_seq ?? 0);
      const pending = await trx
        .selectFrom('bus_pending')
        .select(['seq', 'attempts', 'next_attempt_at', 'lease_until', 'owner'])
        .where('durable', '=', sub.durable)
        .orderBy('seq')
        .execute();
      const deliveries: Claimed[] = [];
      // What holds this subscriber back. Concurrency 1 means strict order for the durable: every
      // outstanding event counts, wherever it is (in flight here or elsewhere, a dead process's lease,
      // a retry waiting). Above 1 order is not promised: only this subscriber's deliveries and retries
      // waiting count, so subscribers sharing a durable each get work.
      const counts = (p: { owner: string; lease_until: number | string }) =>
        sub.concurrency === 1 || p.owner === owner || Number(p.lease_until) === 0;
      let outstanding = pending.filter(counts).length;
      let nextDueAt: number | null = null;
      let deadLettered = 0;
      for (const p of pending) {
        const seq = Number(p.seq);
        const dueAt = Math.max(Number(p.next_attempt_at), Number(p.lease_until));
        if (dueAt > t) {
          nextDueAt = nextDueAt === null ? dueAt : Math.min(nextDueAt, dueAt);
          continue;
        }
        if (deliveries.length >= want) break;
        const row = await trx
          .selectFrom('bus_events')
          .select(['subject', 'payload'])
          .where('seq', '=', seq)
          .executeTakeFirst();
        if (!row || p.attempts >= sub.maxDeliver) {
          // Pruned under us, or its last delivery never came back (the process died): no more tries.
          if (row) await deadLetter(trx, sub.durable, row, p.attempts, new Error('no ack before the lease ran out'));
          await trx.deleteFrom('bus_pending').where('durable', '=', sub.durable).where('seq', '=', seq).execute();
          if (counts(p)) outstanding--;
          if (row) deadLettered++;
          continue;
        }
        await trx
          .updateTable('bus_pending')
          .set({ attempts: p.attempts + 1, lease_until: t + sub.ackWaitMs, owner })
          .where('durable', '=', sub.durable)
          .where('seq', '=', seq)
          .execute();
        if (!counts(p)) outstanding++; // a lost lease of another (dead) subscriber, now ours
        deliveries.push({ seq, subject: row.subject, payload: row.payload, attempt: p.attempts + 1 });
      }

      let more = false;
      if (deliveries.length < want && outstanding < sub.concurrency) {
        const batch = await trx
          .selectFrom('bus_events')
          .select(['seq', 'subject'])
          .where('seq', '>', lastSeq)
          .orderBy('seq')
          .limit(SCAN_BATCH)
          .execute();
        const matched: Array<{ seq: number; subject: string }> = [];
        let scanned = 0;
        for (const row of batch) {
          if (deliveries.length + matched.length >= want || outstanding >= sub.concurrency) break;
          scanned++;
          lastSeq = Number(row.seq);
          if (!matchesAny(sub.subjects, row.subject)) continue;
          matched.push({ seq: lastSeq, subject: row.subject });
          outstanding++;
        }
        const fresh: Claimed[] = [];
        if (matched.length > 0) {
          const payloads = new Map<number, string>();
          for (let i = 0; i < matched.length; i += PAYLOAD_CHUNK) {
            const seqs = matched.slice(i, i + PAYLOAD_CHUNK).map((m) => m.seq);
            const rows = await trx
              .selectFrom('bus_events')
              .select(['seq', 'payload'])
              .where('seq', 'in', seqs)
              .execute();
            for (const row of rows) payloads.set(Number(row.seq), row.payload);
          }
          for (const m of matched) {
            const payload = payloads.get(m.seq);
            // Pruned since the scan (past the retention): nothing left to deliver.
            if (payload === undefined) outstanding--;
            else fresh.push({ seq: m.seq, subject: m.subject, payload, attempt: 1 });
          }
        }
        more = scanned === SCAN_BATCH;
        if (fresh.length > 0) {
          await trx
            .insertInto('bus_pending')
            .values(
              fresh.map((f) => ({
                durable: sub.durable,
                seq: f.seq,
                attempts: 1,
                next_attempt_at: t,
                lease_until: t + sub.ackWaitMs,
                last_error: null,
                owner,
              })),
            )
            .execute();
          deliveries.push(...fresh);
        }
        if (scanned > 0) {
          await trx
            .updateTable('bus_consumers')
            .set({ last_seq: lastSeq })
            .where('durable', '=', sub.durable)
            .execute();
        }
      }
      return { deliveries, more, nextDueAt, deadLettered };
    });
  }

  async function ack(durable: string, seqs: number[]): Promise<void> {
    if (seqs.length === 0) return;
    await db.deleteFrom('bus_pending').where('durable', '=', durable).where('seq', 'in', seqs).execute();
  }

  /** The handler threw: schedule the retry, or dead-letter after the last attempt. */
  async function nack(sub: ResolvedSubscribeOptions, delivery: Claimed, error: unknown): Promise<void> {
    const deadLettered = await db.transaction().execute(async (trx) => {
      const p = await trx
        .selectFrom('bus_pending')
        .select('attempts')
        .where('durable', '=', sub.durable)
        .where('seq', '=', delivery.seq)
        .executeTakeFirst();
      if (!p) return false; // acked or dead-lettered elsewhere after our lease ran out
      if (p.attempts >= sub.maxDeliver) {
        await deadLetter(trx, sub.durable, delivery, p.attempts, error);
        await trx
          .deleteFrom('bus_pending')
          .where('durable', '=', sub.durable)
          .where('seq', '=', delivery.seq)
          .execute();
        return true;
      }
      await trx
        .updateTable('bus_pending')
        .set({
          lease_until: 0,
          next_attempt_at: now() + retryDelayMs(sub.backoffMs, p.attempts),
          last_error: describeError(error),
        })
        .where('durable', '=', sub.durable)
        .where('seq', '=', delivery.seq)
        .execute();
      return false;
    });
    // The dead letter is a new event: wake whoever watches the dead-letter subject.
    if (deadLettered) notify();
  }

  async function extendLeases(sub: ResolvedSubscribeOptions, seqs: number[]): Promise<void> {
    if (seqs.length === 0) return;
    await db
      .updateTable('bus_pending')
      .set({ lease_until: now() + sub.ackWaitMs })
      .where('durable', '=', sub.durable)
      .where('seq', 'in', seqs)
      .execute();
  }

  class Runner {
    private readonly inFlight = new Map<number, Promise<void>>();
    /** Marks this subscriber's leases in bus_pending. */
    private readonly owner = `${process.pid}-${randomUUID()}`;
    private stopping = false;
    private wakeRequested = false;
    private wakeSleeper: (() => void) | null = null;
    private readonly loop: Promise<void>;
    private readonly leaseTimer: NodeJS.Timeout;
    readonly wake = () => {
      this.wakeRequested = true;
      this.wakeSleeper?.();
    };

    constructor(
      private readonly sub: ResolvedSubscribeOptions,
      private readonly handler: (delivery: Delivery) => Promise<void>,
    ) {
      wakers.set(this.wake, { durable: sub.durable, subjects: sub.subjects });
      // Live handlers keep their lease, so only a dead process's deliveries come back.
      this.leaseTimer = setInterval(() => {
        extendLeases(sub, [...this.inFlight.keys()]).catch((error) =>
          log.warn({ err: error, durable: sub.durable }, 'could not extend leases'),
        );
      }, sub.ackWaitMs / 2);
      this.leaseTimer.unref();
      this.loop = this.run();
    }

    private async sleep(ms: number): Promise<void> {
      if (this.wakeRequested || this.stopping) {
        this.wakeRequested = false;
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, ms));
        this.wakeSleeper = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeSleeper = null;
      this.wakeRequested = false;
    }

    private async run(): Promise<void> {
      while (!this.stopping) {
        const free = this.sub.concurrency - this.inFlight.size;
        let result: ClaimResult = { deliveries: [], more: false, nextDueAt: null, deadLettered: 0 };
        const acked = takeAcks(shared, this.sub.durable);
        if (free > 0 || acked.length > 0) {
          try {
            result = await claim(this.sub, this.owner, Math.max(0, free), acked);
          } catch (error) {
            addAcks(shared, this.sub.durable, acked);
            log.error({ err: error, durable: this.sub.durable }, 'claiming events failed; retrying');
            await this.sleep(pollIntervalMs);
            continue;
          }
          for (const delivery of result.deliveries) this.start(delivery);
          if (result.deadLettered > 0) notify();
        }
        if (result.more && this.inFlight.size < this.sub.concurrency) continue;
        const untilDue = result.nextDueAt === null ? pollIntervalMs : result.nextDueAt - now();
        await this.sleep(Math.min(pollIntervalMs, untilDue));
      }
    }

    private start(delivery: Claimed): void {
      const done = (async () => {
        let event: BusEvent;
        try {
          event = JSON.parse(delivery.payload) as BusEvent;
        } catch (error) {
          // Unreadable rows cannot get better by retrying.
          await nack({ ...this.sub, maxDeliver: 0 }, delivery, error);
          return;
        }
        let failure: { error: unknown } | null = null;
        try {
          await this.handler({ subject: delivery.subject, event, attempt: delivery.attempt });
        } catch (error) {
          failure = { error };
        }
        if (failure) {
          log.warn(
            { err: failure.error, durable: this.sub.durable, subject: delivery.subject, eventId: event.id },
            'handler failed; the event will be redelivered',
          );
          await nack(this.sub, delivery, failure.error);
        } else {
          // Written by the next claim round (or stop()); dying before that means a redelivery.
          addAcks(shared, this.sub.durable, [delivery.seq]);
        }
      })()
        .catch((error) => {
          // The database is unreachable: the lease runs out and the event is redelivered.
          log.error({ err: error, durable: this.sub.durable }, 'could not record the outcome of a delivery');
        })
        .finally(() => {
          this.inFlight.delete(delivery.seq);
          notify({ durable: this.sub.durable });
        });
      this.inFlight.set(delivery.seq, done);
    }

    async stop(): Promise<void> {
      this.stopping = true;
      this.wake();
      await this.loop;
      await Promise.all(this.inFlight.values());
      clearInterval(this.leaseTimer);
      const acked = takeAcks(shared, this.sub.durable);
      await ack(this.sub.durable, acked).catch((error) =>
        log.error({ err: error, durable: this.sub.durable }, 'could not record acks; those events will be redelivered'),
      );
      wakers.delete(this.wake);
    }
  }

  const pruneTimer = setInterval(() => {
    db.deleteFrom('bus_events')
      .where('created_at', '<', now() - retentionMs)
      .where('seq', 'not in', db.selectFrom('bus_pending').select('seq'))
      .execute()
      .catch((error) => log.warn({ err: error }, 'pruning old events failed'));
  }, options.pruneIntervalMs ?? PRUNE_INTERVAL_MS);
  pruneTimer.unref();

  return {
    async publish(subject: string, event: BusEvent): Promise<void> {
      assertPublishSubject(subject);
      if (closed) throw new Error('bus is closed');
      await append({ id: event.id, subject, payload: serializeEvent(event) });
      notify({ subjects: [subject] });
    },

    transactional: {
      kysely: db,
      async insert(transaction, events) {
        if (closed) throw new Error('bus is closed');
        if (events.length === 0) return;
        await insertEvents(transaction as Kysely<BusTables>, newEvents(events));
      },
      compileInsert(events: ReadonlyArray<{ subject: string; event: BusEvent }>) {
        if (closed) throw new Error('bus is closed');
        return compileEventInserts(newEvents(events));
      },
      committed(subjects) {
        if (subjects.length > 0) notify({ subjects });
      },
    },

    async subscribe(subscribeOptions: SubscribeOptions): Promise<Subscription> {
      const sub = resolveSubscribeOptions(subscribeOptions);
      if (closed) throw new Error('bus is closed');
      // A new durable starts at seq 0: everything the bus still retains.
      await db
        .insertInto('bus_consumers')
        .values({ durable: sub.durable, last_seq: 0, created_at: now() })
        .onConflict((oc) => oc.column('durable').doNothing())
        .execute();
      const runner = new Runner(sub, subscribeOptions.handler);
      runners.add(runner);
      let stopped: Promise<void> | null = null;
      return {
        stop: () => {
          stopped ??= runner.stop().finally(() => runners.delete(runner));
          return stopped;
        },
      };
    },

    healthy: async () => !closed && (await database.ping()),

    async outboxDepth(): Promise<number> {
      const slowest = await db
        .selectFrom('bus_consumers')
        .select((eb) => eb.fn.min('last_seq').as('min'))
        .executeTakeFirst();
      if (slowest?.min === null || slowest?.min === undefined) return 0;
      const behind = await db
        .selectFrom('bus_events')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('seq', '>', Number(slowest.min))
        .executeTakeFirst();
      const pending = await db
        .selectFrom('bus_pending')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst();
      return Number(behind?.n ?? 0) + Number(pending?.n ?? 0);
    },

    close(): Promise<void> {
      // Every caller, concurrent ones included, resolves once the subscriptions have stopped.
      closePromise ??= (async () => {
        closed = true;
        clearInterval(pruneTimer);
        await Promise.all([...runners].map((r) => r.stop()));
        runners.clear();
      })();
      return closePromise;
    },
  };
}

/** bus_events' columns as PostgreSQL arrays (see eventInserts in createInProcessBus). */
const EVENT_COLUMNS = [
  ['id', 'text'],
  ['subject', 'text'],
  ['payload', 'text'],
  ['created_at', 'bigint'],
] as const;
