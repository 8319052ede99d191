import type { CompiledQuery, Kysely } from 'kysely';
/**
 * The event bus port: the one way services tell each other what happened.
 * Two adapters implement it (NATS JetStream and the in-process outbox bus);
 * one contract suite (bus/contract.ts) runs against both.
 *
 * Semantics every adapter keeps:
 * - `publish` resolves once the event is durable in the database (the
 *   in-process log, or the outbox the NATS relay forwards from), so it keeps
 *   working while NATS is down. The event's `id` is its dedupe key
 *   (`Nats-Msg-Id`). Events are JSON of at most 64 KiB.
 * - A subscription is a durable, named consumer: it resumes where it left off
 *   after a restart. The handler resolving acks the event; throwing makes it
 *   come back later (with backoff) up to `maxDeliver` times, after which it is
 *   moved to the dead-letter subject `confab.deadletter.<durable>`.
 * - Delivery is at least once: handlers must be idempotent on `event.id`.
 * - A durable seen for the first time starts at the oldest event the bus
 *   still retains (JetStream `deliver_policy: all`), so a service started
 *   after events were published still sees them.
 * - Subjects live under `confab.` (the stream's `confab.>`); publishing
 *   outside it is a bug and throws.
 */
export interface BusEvent {
  readonly id: string;
  readonly [key: string]: unknown;
}

export interface Delivery<E extends BusEvent = BusEvent> {
  readonly subject: string;
  readonly event: E;
  /** 1 on first delivery, 2 on the first redelivery, ... */
  readonly attempt: number;
}

export interface SubscribeOptions {
  /** Durable consumer name: one cursor per name, shared by all instances that use it. */
  readonly durable: string;
  /** NATS-style subject filters (`confab.room.>`, `confab.auth.*.revoked`). */
  readonly subjects: readonly string[];
  readonly handler: (delivery: Delivery) => Promise<void>;
  /** Deliveries before an event is dead-lettered. Default 5. */
  readonly maxDeliver?: number;
  /**
   * At most this many events in flight at once for this subscriber. Default 1:
   * the durable is handled strictly in order, everywhere: nothing is handed
   * out while one of its events is outstanding (being handled by any
   * instance, or waiting for its retry). On NATS this is the durable's
   * `max_ack_pending`, so above 1 it bounds all instances of the durable
   * together, while in-process each subscriber gets its own share. With one
   * subscriber per durable (the usual case) the two agree.
   */
  readonly concurrency?: number;
  /**
   * Delay before redelivering after the handler threw, by attempt: entry 0
   * after the 1st failure, the last entry for any later one.
   * Default {@link DEFAULT_RETRY_BACKOFF_MS}.
   */
  readonly backoffMs?: readonly number[];
  /**
   * How long a delivery may stay unacked before it counts as lost (the
   * process died) and is redelivered. Live handlers keep extending it, so a
   * slow handler is not redelivered behind its back. Default 30 s.
   */
  readonly ackWaitMs?: number;
  /**
   * For a durable that belongs to one process (its name carries an instance
   * id): once nobody has pulled from it for this long, the bus forgets it, so
   * the consumers of instances that are gone for good do not pile up. A
   * subscriber back after that starts over as a new durable (at the oldest
   * event kept). NATS: the consumer's `inactive_threshold`. The in-process
   * bus keeps its cursors: its one process names its durables the same way
   * on every start. Default: kept for ever.
   */
  readonly forgetAfterIdleMs?: number;
}

export interface Subscription {
  /** Stops fetching; resolves when in-flight handlers have finished and been acked. */
  stop(): Promise<void>;
}

/**
 * Publishing inside another writer's transaction, offered by a bus whose log
 * is a table of the database that writer uses (the in-process bus). A service
 * storing a change in the same database can then commit the change and its
 * events together: no outbox of its own, no second commit, nothing to relay.
 */
export interface TransactionalPublish {
  /** The Kysely instance whose transactions `insert` can join; compare with `===`. */
  readonly kysely: object;
  /** Inserts the events with the caller's transaction (an id already stored is dropped, as by `publish`). */
  // biome-ignore lint/suspicious/noExplicitAny: any service's transaction on the shared database.
  insert(transaction: Kysely<any>, events: ReadonlyArray<{ subject: string; event: BusEvent }>): Promise<void>;
  /**
   * The statements `insert` runs, compiled, for a caller that batches its own
   * (`sqliteBatch`, `pgSingleStatement`): they need nothing else run with them
   * (on PostgreSQL each takes the bus's insert lock itself).
   */
  compileInsert?(events: ReadonlyArray<{ subject: string; event: BusEvent }>): CompiledQuery[];
  /** Wakes local subscribers of these subjects; call once the transaction has committed. */
  committed(subjects: readonly string[]): void;
}

export interface EventBus {
  publish(subject: string, event: BusEvent): Promise<void>;
  /** Present when events can be published inside a transaction of the caller's (see TransactionalPublish). */
  readonly transactional?: TransactionalPublish;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** True when the bus can reach its backing store (for /readyz). */
  healthy(): Promise<boolean>;
  /**
   * Events written to the database outbox and not yet handed on (to
   * JetStream, or to every durable consumer of the in-process bus). The sync
   * server exports it as its outbox gauge; a number that keeps growing means
   * the bus is down or a consumer is stuck.
   */
  outboxDepth?(): Promise<number>;
  /** Stops every subscription (waiting for in-flight handlers) and the relay. Leaves the database open. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_DELIVER = 5;
export const DEFAULT_RETRY_BACKOFF_MS: readonly number[] = [1_000, 5_000, 30_000, 120_000];
export const DEFAULT_ACK_WAIT_MS = 30_000;

/**
 * What lands on `confab.deadletter.<durable>`: the original subject and event
 * and why it gave up. Its `id` is derived from the durable and the original
 * id, so dead-lettering the same event twice stays one dead letter.
 */
export interface DeadLetter extends BusEvent {
  readonly durable: string;
  readonly subject: string;
  readonly event: BusEvent;
  readonly attempts: number;
  readonly error: string;
  readonly deadLetteredAt: number;
}

export const DEAD_LETTER_PREFIX = 'confab.deadletter';

export function deadLetterSubject(durable: string): string {
  return `${DEAD_LETTER_PREFIX}.${durable}`;
}

/**
 * NATS subject matching: `*` one token, `>` one or more trailing tokens.
 * Walks both strings in place: the in-process bus matches every committed
 * subject against every subscription's filters, and splitting both each time
 * was 1.6% of what the sync server allocated under load.
 */
export function subjectMatches(filter: string, subject: string): boolean {
  let f = 0; // where the filter's current token starts
  let s = 0; // where the subject's current token starts; past its end once it has no more
  for (;;) {
    let fEnd = filter.indexOf('.', f);
    if (fEnd === -1) fEnd = filter.length;
    const length = fEnd - f;
    const single = length === 1 ? filter.charCodeAt(f) : 0;
    if (single === GREATER) return s <= subject.length;
    if (s > subject.length) return false;
    let sEnd = subject.indexOf('.', s);
    if (sEnd === -1) sEnd = subject.length;
    if (single !== STAR) {
      if (sEnd - s !== length) return false;
      for (let k = 0; k < length; k++) if (filter.charCodeAt(f + k) !== subject.charCodeAt(s + k)) return false;
    }
    if (fEnd === filter.length) return sEnd === subject.length;
    f = fEnd + 1;
    s = sEnd + 1;
  }
}

const STAR = 42; // '*'
const GREATER = 62; // '>'
