import type { BusEvent, EventBus } from '@confab/platform';
import {
  type MessageCreatedEvent,
  type MessageDeletedEvent,
  type MessageEditedEvent,
  newEventId,
  type ReadEvent,
  subjects,
} from '@confab/protocol';
import type { Logger } from 'pino';
import type { PendingEvent, SyncStore } from '../storage/sync-store';
import type { RoomChanges } from './guard-port';

/**
 * The bus events an accepted room update implies (CONTRACT "Bus events").
 * Pure: ids come from `newId`, online users are looked up by the caller.
 * Reactions have no event in the contract.
 */
export function roomEvents(
  roomId: string,
  changes: RoomChanges,
  onlineUserIds: readonly string[],
  newId: () => string = () => newEventId(),
): PendingEvent[] {
  const out: PendingEvent[] = [];
  for (const m of changes.created) {
    const event: MessageCreatedEvent = {
      id: newId(),
      roomId,
      messageId: m.id,
      authorId: m.author,
      text: m.text,
      replyTo: m.replyTo ?? null,
      mentions: m.mentions ?? [],
      createdAt: m.createdAt,
      onlineUserIds: [...onlineUserIds],
    };
    out.push({ subject: subjects.messageCreated(roomId), event: event as BusEvent });
  }
  for (const e of changes.edited) {
    const event: MessageEditedEvent = {
      id: newId(),
      roomId,
      messageId: e.messageId,
      authorId: e.authorId,
      text: e.text,
      editedAt: e.editedAt,
    };
    out.push({ subject: subjects.messageEdited(roomId), event: event as BusEvent });
  }
  for (const d of changes.deleted) {
    const event: MessageDeletedEvent = { id: newId(), roomId, messageId: d.messageId, deletedBy: d.deletedBy };
    out.push({ subject: subjects.messageDeleted(roomId), event: event as BusEvent });
  }
  for (const r of changes.reads) {
    const event: ReadEvent = { id: newId(), roomId, userId: r.userId, messageId: r.messageId, at: r.at };
    out.push({ subject: subjects.read(roomId), event: event as BusEvent });
  }
  return out;
}

export interface EventRelayOptions {
  store: SyncStore;
  bus: EventBus;
  logger: Logger;
  clock: () => number;
  /** How often events left behind (bus down, crash after the append) are retried. */
  sweepIntervalMs?: number;
}

/**
 * Hands events from `sync_pending_events` to the bus. Events are written with
 * their update's log row in one transaction, so an update is never stored
 * without its events (a crash or a dead bus only delays them); the relay
 * publishes right after the update is applied and a periodic sweep retries
 * whatever is left. Delivery is at least once: consumers dedupe on `id`
 * (JetStream does too, through `Nats-Msg-Id`).
 */
export class EventRelay {
  private readonly inFlight = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly sweepIntervalMs: number;

  constructor(private readonly options: EventRelayOptions) {
    this.sweepIntervalMs = options.sweepIntervalMs ?? 5_000;
  }

  start(): void {
    this.timer = setInterval(() => this.sweep(), this.sweepIntervalMs);
    this.timer.unref();
    this.sweep();
  }

  /** Publishes now (fire and forget); failures stay in the table for the sweep. */
  publish(events: readonly PendingEvent[]): void {
    // A store that publishes on append has already committed them into the bus's log.
    if (events.length === 0 || this.options.store.publishesOnAppend) return;
    this.track(this.publishAll(events.map((e) => ({ ...e, id: e.event.id }))));
  }

  /** Retries events older than one sweep interval (younger ones are still being published by `publish`). */
  sweep(): void {
    this.track(
      (async () => {
        const { store, clock, logger } = this.options;
        try {
          const pending = await store.pendingEvents(500, clock() - this.sweepIntervalMs);
          await this.publishAll(pending.filter((e) => !this.inFlight.has(e.id)));
        } catch (error) {
          logger.warn({ err: error }, 'event sweep failed; retrying later');
        }
      })(),
    );
  }

  private track(work: Promise<void>): void {
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
  }

  /**
   * Hands all the events to the bus at once, then deletes the published rows in one write. The bus
   * keeps the call order (one group-committed transaction in process, one connection's publishes on
   * NATS), so a room's events go out in order. One event after another would cost two commits per
   * event: an offline client's batch of hundreds of messages would take seconds to reach the bus. A
   * publish that fails is left for the sweep; the events after it may overtake it, which consumers
   * survive because they dedupe on `id` and do not rely on order across a bus failure.
   */
  private async publishAll(events: ReadonlyArray<PendingEvent & { id: string }>): Promise<void> {
    const { bus, store, logger } = this.options;
    const mine = events.filter((e) => !this.inFlight.has(e.id));
    for (const e of mine) this.inFlight.add(e.id);
    try {
      const results = await Promise.allSettled(mine.map((e) => bus.publish(e.subject, e.event)));
      const published: string[] = [];
      results.forEach((result, i) => {
        const e = mine[i]!;
        if (result.status === 'fulfilled') published.push(e.id);
        else
          logger.warn({ err: result.reason, subject: e.subject, eventId: e.id }, 'event not published yet; will retry');
      });
      // Left in the table if this fails: the sweep publishes them again, and the bus and consumers drop the repeats.
      await store
        .deletePendingEvents(published)
        .catch((error) =>
          logger.warn(
            { err: error, events: published.length },
            'published events could not be marked; they will repeat',
          ),
        );
    } finally {
      for (const e of mine) this.inFlight.delete(e.id);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.running]);
  }
}
