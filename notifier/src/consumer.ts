import type { Delivery } from '@confab/platform';
import {
  eventKindOf,
  type MembershipChangedEvent,
  type MessageCreatedEvent,
  type MessageDeletedEvent,
  type MessageEditedEvent,
  type PasswordResetRequestedEvent,
  parseEvent,
  plainText,
  type ReadEvent,
  type RoomDeletedEvent,
  type SessionRevokedEvent,
  type UserDeletedEvent,
} from '@confab/protocol';
import type { Logger } from 'pino';
import type { CachedDirectory } from './adapters/directory-cache';
import type { NotifierMetrics } from './adapters/metrics';
import type { NewNotification, NotifierRepository } from './adapters/repository';
import { MAX_BODY_CHARS, notificationTitle, truncate } from './domain/content';
import { decideForMessage } from './domain/decide';

export interface ConsumerDeps {
  readonly repo: NotifierRepository;
  readonly directory: CachedDirectory;
  readonly logger: Logger;
  readonly metrics: NotifierMetrics;
  readonly clock: () => number;
  readonly maxDeliver: number;
  /** The in-app feed of these users changed: new notifications, or some read (wakes their SSE streams). */
  readonly onNotified: (userIds: readonly string[]) => void;
  /** Deliveries due now were recorded (wakes the dispatcher; later ones wait for its tick). */
  readonly onDeliveriesRecorded: () => void;
  readonly onSessionRevoked: (sessionId: string) => void;
  /** Emails a forgotten-password link at once (throws to be redelivered when sending fails). */
  readonly sendPasswordReset: (event: PasswordResetRequestedEvent) => Promise<void>;
}

/**
 * The bus handler. Idempotent on the event id: every write is keyed by it
 * (or is naturally repeatable), so a redelivery after a crash does nothing
 * twice. Throwing makes the bus retry, and dead-letter after maxDeliver.
 */
export function createEventHandler(deps: ConsumerDeps): (delivery: Delivery) => Promise<void> {
  const { repo, directory, logger, metrics, clock } = deps;

  async function messageCreated(event: MessageCreatedEvent): Promise<void> {
    const facts = {
      eventId: event.id,
      roomId: event.roomId,
      messageId: event.messageId,
      messageCreatedAt: event.createdAt,
      authorId: event.authorId,
    };
    const room = await directory.room(event.roomId);
    if (!room) {
      logger.warn({ roomId: event.roomId, eventId: event.id }, 'message for a room the directory does not know');
      await repo.recordNotifications(facts, [], clock());
      return;
    }
    const replyToAuthorId = event.replyTo ? ((await repo.message(event.replyTo))?.authorId ?? null) : null;
    const others = room.members.filter((m) => m.id !== event.authorId);
    // One query for the whole room, however big (bench/notifier.ts depends on it).
    const preferences = await repo.preferencesOf(others.map((m) => m.id));
    const nowMs = clock();
    const decisions = decideForMessage(
      { ...event, replyToAuthorId },
      others.map((m) => ({ userId: m.id, hasEmail: m.email !== '' })),
      (userId) => preferences.get(userId),
      nowMs,
    );
    if (decisions.length === 0) {
      await repo.recordNotifications(facts, [], nowMs);
      return;
    }
    const pushUsers = decisions.filter((d) => d.pushAtMs !== null).map((d) => d.userId);
    const subscriptions = await repo.pushSubscriptionsOf(pushUsers);
    const authorName =
      room.members.find((m) => m.id === event.authorId)?.displayName ??
      (await directory.user(event.authorId))?.displayName ??
      'Someone';
    // What the message reads as, without its formatting marks: a lock screen shows no bold.
    const body = truncate(plainText(event.text), MAX_BODY_CHARS);
    const items: NewNotification[] = decisions.map((d) => ({
      userId: d.userId,
      kind: d.kind,
      title: notificationTitle(d.kind, authorName, room.name),
      body,
      pushTargets: (subscriptions.get(d.userId) ?? []).map((s) => s.endpoint),
      pushAtMs: d.pushAtMs,
      emailAtMs: d.emailAtMs,
    }));
    const inserted = await repo.recordNotifications(facts, items, nowMs);
    metrics.deliveries.inc({ channel: 'inapp', result: 'sent' }, inserted.length);
    if (inserted.length > 0) deps.onNotified(inserted.map((n) => n.userId));
    const dueNow = items.some(
      (i) =>
        (i.pushAtMs !== null && i.pushAtMs <= nowMs && i.pushTargets.length > 0) || (i.emailAtMs ?? Infinity) <= nowMs,
    );
    if (inserted.length > 0 && dueNow) deps.onDeliveriesRecorded();
  }

  async function messageEdited(event: MessageEditedEvent): Promise<void> {
    await repo.editMessage(event.messageId, truncate(plainText(event.text), MAX_BODY_CHARS));
  }

  async function messageDeleted(event: MessageDeletedEvent): Promise<void> {
    await repo.deleteMessage(event.messageId);
  }

  async function read(event: ReadEvent): Promise<void> {
    // The marker's own creation time orders it among the room's messages; when
    // the notifier never saw that message, the time of reading is the bound.
    const marker = await repo.message(event.messageId);
    await repo.readUpTo(event.userId, event.roomId, marker?.createdAt ?? event.at, clock());
    // Their open bells take the room's notifications off the unread count now, not at the next poll.
    deps.onNotified([event.userId]);
  }

  async function membershipChanged(event: MembershipChangedEvent): Promise<void> {
    directory.invalidate(event.roomId);
    if (event.role === null) await repo.cancelPendingInRoom(event.userId, event.roomId);
  }

  return async (delivery) => {
    // Subjects outside the contract (newer publishers, dead letters of others) are not ours to judge.
    if (eventKindOf(delivery.subject) === null) {
      logger.debug({ subject: delivery.subject }, 'ignoring an event the notifier does not handle');
      return;
    }
    let parsed: ReturnType<typeof parseEvent>;
    try {
      parsed = parseEvent(delivery.subject, delivery.event);
    } catch (error) {
      // Not retryable, but thrown so the bus dead-letters it for someone to look at.
      logger.error({ subject: delivery.subject, err: error }, 'event does not match its schema');
      if (delivery.attempt >= deps.maxDeliver) metrics.deadLetters.inc();
      throw error;
    }
    const { kind, event } = parsed;
    const log = logger.child({ eventId: event.id, kind, requestId: event.requestId });
    try {
      switch (kind) {
        case 'message.created':
          await messageCreated(event as unknown as MessageCreatedEvent);
          break;
        case 'message.edited':
          await messageEdited(event as unknown as MessageEditedEvent);
          break;
        case 'message.deleted':
          await messageDeleted(event as unknown as MessageDeletedEvent);
          break;
        case 'read':
          await read(event as unknown as ReadEvent);
          break;
        case 'membership.changed':
          await membershipChanged(event as unknown as MembershipChangedEvent);
          break;
        case 'password_reset.requested': {
          const reset = event as unknown as PasswordResetRequestedEvent;
          // A link that expired while the event waited (the notifier was down) would only disappoint.
          if (reset.expiresAt <= clock()) log.info('password reset link expired before it could be sent');
          else await deps.sendPasswordReset(reset);
          break;
        }
        case 'room.deleted': {
          const { roomId } = event as unknown as RoomDeletedEvent;
          directory.invalidate(roomId);
          await repo.deleteRoomData(roomId);
          break;
        }
        case 'user.deleted':
          await repo.deleteUserData((event as unknown as UserDeletedEvent).userId);
          break;
        case 'session.revoked': {
          const { sessionId } = event as unknown as SessionRevokedEvent;
          deps.onSessionRevoked(sessionId);
          // No more pushes (with message previews) to a browser whose session was signed out.
          await repo.deletePushSubscriptionsOfSession(sessionId);
          break;
        }
      }
      metrics.events.inc({ kind });
    } catch (error) {
      log.warn({ err: error, attempt: delivery.attempt }, 'handling the event failed; the bus will redeliver it');
      if (delivery.attempt >= deps.maxDeliver) metrics.deadLetters.inc();
      throw error;
    }
  };
}
