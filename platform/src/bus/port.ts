/**
 * The event bus port: the one way services tell each other what happened.
 * Two adapters implement it (NATS JetStream and the in-process outbox bus);
 * one contract suite (bus/contract.ts) runs against both.
 *
 * Semantics every adapter keeps:
 * - `publish` resolves once the event is durable (in JetStream, or in the
 *   database outbox). The event's `id` is its dedupe key (`Nats-Msg-Id`).
 * - A subscription is a durable, named consumer: it resumes where it left off
 *   after a restart. The handler resolving acks the event; throwing makes it
 *   come back later (with backoff) up to `maxDeliver` times, after which it is
 *   moved to the dead-letter subject `confab.deadletter.<durable>`.
 * - Delivery is at least once: handlers must be idempotent on `event.id`.
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
  /** At most this many events in flight at once for this subscription. Default 1 (in order). */
  readonly concurrency?: number;
}

export interface Subscription {
  /** Stops fetching; resolves when in-flight handlers have finished and been acked. */
  stop(): Promise<void>;
}

export interface EventBus {
  publish(subject: string, event: BusEvent): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** True when the bus can reach its backing store (for /readyz). */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

export const DEAD_LETTER_PREFIX = 'confab.deadletter';

export function deadLetterSubject(durable: string): string {
  return `${DEAD_LETTER_PREFIX}.${durable}`;
}

/** NATS subject matching: `*` one token, `>` one or more trailing tokens. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    const token = f[i];
    if (token === '>') return s.length > i;
    if (i >= s.length) return false;
    if (token !== '*' && token !== s[i]) return false;
  }
  return f.length === s.length;
}
