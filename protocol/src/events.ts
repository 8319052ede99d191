import { z } from 'zod';
import type { EventId, RoomId } from './ids';

/**
 * Bus events (CONTRACT "Bus events"). Every payload carries `id`, which is
 * also the `Nats-Msg-Id` header so a re-publish inside JetStream's duplicate
 * window is dropped. `requestId`, where present, follows a message from the
 * sync server to the notifier's logs (an extension of the contract).
 */
export const STREAM_NAME = 'CONFAB';
export const STREAM_SUBJECTS = ['confab.>'];

const id = z.string().min(1).max(64);
const epochMs = z.number().int().nonnegative();

export const messageCreatedEvent = z.object({
  id,
  roomId: id,
  messageId: id,
  authorId: id,
  text: z.string(),
  replyTo: id.nullable(),
  mentions: z.array(id),
  createdAt: epochMs,
  onlineUserIds: z.array(id),
  requestId: z.string().optional(),
});

export const messageEditedEvent = z.object({
  id,
  roomId: id,
  messageId: id,
  authorId: id,
  text: z.string(),
  editedAt: epochMs,
  requestId: z.string().optional(),
});

export const messageDeletedEvent = z.object({
  id,
  roomId: id,
  messageId: id,
  deletedBy: id,
  requestId: z.string().optional(),
});

export const readEvent = z.object({
  id,
  roomId: id,
  userId: id,
  messageId: id,
  at: epochMs,
  requestId: z.string().optional(),
});

export const sessionRevokedEvent = z.object({
  id,
  sessionId: id,
  userId: id,
});

export const membershipChangedEvent = z.object({
  id,
  roomId: id,
  userId: id,
  role: z.enum(['owner', 'member', 'reader']).nullable(),
});

/**
 * Extension of the contract: someone asked for a link to set a new password. The notifier emails
 * `token` in a link to the account's address; it is single-use and expires at `expiresAt`. The
 * auth server stores only its hash, so this event is the one place the token exists besides that
 * email: the stream keeps it until it expires (see docs/auth.md, "Forgotten passwords").
 */
export const passwordResetRequestedEvent = z.object({
  id,
  userId: id,
  email: z.string().min(3).max(254),
  displayName: z.string().max(64),
  token: z.string().min(16).max(128),
  expiresAt: epochMs,
});

/**
 * Extension of the contract: an account was deleted (its sessions and memberships were announced
 * on their own subjects first). Services drop what they keep for the user: the notifier its
 * notifications, push subscriptions and preferences; the sync server the private `user:` document.
 */
export const userDeletedEvent = z.object({ id, userId: id });

/**
 * Extension of the contract: an owner deleted a room (every member's removal was announced on
 * `membership.changed` first). The sync server deletes the room's document, the notifier its
 * notifications.
 */
export const roomDeletedEvent = z.object({ id, roomId: id });

export type MessageCreatedEvent = z.infer<typeof messageCreatedEvent>;
export type MessageEditedEvent = z.infer<typeof messageEditedEvent>;
export type MessageDeletedEvent = z.infer<typeof messageDeletedEvent>;
export type ReadEvent = z.infer<typeof readEvent>;
export type SessionRevokedEvent = z.infer<typeof sessionRevokedEvent>;
export type MembershipChangedEvent = z.infer<typeof membershipChangedEvent>;
export type PasswordResetRequestedEvent = z.infer<typeof passwordResetRequestedEvent>;
export type UserDeletedEvent = z.infer<typeof userDeletedEvent>;
export type RoomDeletedEvent = z.infer<typeof roomDeletedEvent>;

/** Subjects, built in one place so publishers and consumers cannot drift. */
export const subjects = {
  messageCreated: (roomId: RoomId | string) => `confab.room.${roomId}.message.created`,
  messageEdited: (roomId: RoomId | string) => `confab.room.${roomId}.message.edited`,
  messageDeleted: (roomId: RoomId | string) => `confab.room.${roomId}.message.deleted`,
  read: (roomId: RoomId | string) => `confab.room.${roomId}.read`,
  sessionRevoked: 'confab.auth.session.revoked',
  membershipChanged: 'confab.auth.membership.changed',
  passwordResetRequested: 'confab.auth.password_reset.requested',
  userDeleted: 'confab.auth.user.deleted',
  roomDeleted: 'confab.auth.room.deleted',
  /** Every room event (for consumers such as the notifier). */
  allRoomEvents: 'confab.room.>',
  /** Every auth event. */
  allAuthEvents: 'confab.auth.>',
} as const;

export type EventKind =
  | 'message.created'
  | 'message.edited'
  | 'message.deleted'
  | 'read'
  | 'session.revoked'
  | 'membership.changed'
  | 'password_reset.requested'
  | 'user.deleted'
  | 'room.deleted';

export const eventSchemas = {
  'message.created': messageCreatedEvent,
  'message.edited': messageEditedEvent,
  'message.deleted': messageDeletedEvent,
  read: readEvent,
  'session.revoked': sessionRevokedEvent,
  'membership.changed': membershipChangedEvent,
  'password_reset.requested': passwordResetRequestedEvent,
  'user.deleted': userDeletedEvent,
  'room.deleted': roomDeletedEvent,
} as const;

/** The kind of event a subject carries, or null for a subject outside the contract. */
export function eventKindOf(subject: string): EventKind | null {
  if (subject === subjects.sessionRevoked) return 'session.revoked';
  if (subject === subjects.membershipChanged) return 'membership.changed';
  if (subject === subjects.passwordResetRequested) return 'password_reset.requested';
  if (subject === subjects.userDeleted) return 'user.deleted';
  if (subject === subjects.roomDeleted) return 'room.deleted';
  const m = /^confab\.room\.[A-Za-z0-9_-]{1,64}\.(message\.created|message\.edited|message\.deleted|read)$/.exec(
    subject,
  );
  return m ? (m[1] as EventKind) : null;
}

/** Parses a payload against the schema its subject implies; throws a ZodError on mismatch. */
export function parseEvent(
  subject: string,
  payload: unknown,
): { kind: EventKind; event: { id: EventId } & Record<string, unknown> } {
  const kind = eventKindOf(subject);
  if (!kind) throw new TypeError(`unknown subject ${subject}`);
  const event = eventSchemas[kind].parse(payload) as unknown as { id: EventId } & Record<string, unknown>;
  return { kind, event };
}
