import {
  type ChatMessage,
  editShapeError,
  messageShapeError,
  parseReactionKey,
  readMarkerShapeError,
} from '@confab/protocol';

/**
 * The room schema v1 write rules as pure functions over plain values. The
 * RoomGuard does the Yjs work (decoding, finding which key or message a
 * struct touches) and asks these functions for the verdict. Each returns null
 * when the write is allowed, or the refusal.
 */

export type GuardRule =
  | 'malformed_update'
  /** Builds on changes the server does not have (yet): the pipeline asks the client to sync instead of closing. */
  | 'missing_dependencies'
  | 'unknown_key'
  | 'wrong_type'
  | 'read_only'
  | 'message_not_appended'
  | 'message_author'
  | 'message_shape'
  | 'message_immutable'
  | 'message_delete_not_allowed'
  | 'edit_not_author'
  | 'edit_shape'
  | 'reaction_not_own'
  | 'reaction_shape'
  | 'read_not_own'
  | 'read_shape'
  | 'too_large'
  | 'decode_budget'
  | 'client_id_taken';

export type Role = 'owner' | 'member' | 'reader';

export interface GuardContext {
  userId: string;
  role: Role;
}

export interface Refusal {
  rule: GuardRule;
  detail: string;
}

const refuse = (rule: GuardRule, detail: string): Refusal => ({ rule, detail });

/** Readers write nothing: any struct or effective delete from them is refused. */
export function writeAllowed(ctx: GuardContext): Refusal | null {
  return ctx.role === 'reader' ? refuse('read_only', 'readers may not change the room') : null;
}

/**
 * A new element of `messages`: a valid v1 message written by the sender,
 * with an id not already used in the room (edits and reactions address
 * messages by id, so a reused id would let one user's edit land on another's
 * message). `idTaken` answers for live messages, remembered deleted ones and
 * ids that have an `edits` entry.
 */
export function newMessageRule(value: unknown, ctx: GuardContext, idTaken: (id: string) => boolean): Refusal | null {
  const shape = messageShapeError(value);
  if (shape) return refuse('message_shape', shape);
  const message = value as ChatMessage;
  if (message.author !== ctx.userId) return refuse('message_author', `author ${message.author} is not the sender`);
  if (idTaken(message.id)) return refuse('message_shape', `message id ${message.id} is already used`);
  return null;
}

/** Deleting a message: its author, or an owner (moderation). */
export function messageDeleteRule(authorId: string, ctx: GuardContext): Refusal | null {
  if (authorId === ctx.userId || ctx.role === 'owner') return null;
  return refuse('message_delete_not_allowed', `only the author ${authorId} or an owner may delete this message`);
}

/**
 * What the room knows about the message an edit addresses: a message in the
 * room (or appended by the same update), a message deleted while the room was
 * loaded (the guard remembers its author), or nothing (never existed, or
 * deleted before the room was loaded: Yjs garbage-collected its content, so
 * its author is gone with it).
 */
export type EditTarget =
  | { state: 'live'; author: string }
  | { state: 'deleted'; author: string }
  | { state: 'unknown' };

/**
 * Writing `edits[messageId]`: only the author of the message, also after the
 * message was deleted (an edit made offline must not wedge the author's
 * device; readers ignore edits of missing messages, so the text stays hidden).
 *
 * An id the room knows nothing about is accepted too, and the entry is inert:
 * a message is never appended with an id that already has an `edits` entry
 * (`newMessageRule`), so such an edit can never attach to a future message,
 * whoever wrote it. That is what makes it safe to accept an offline edit of a
 * message that was deleted and garbage-collected before this load.
 */
export function editWriteRule(messageId: string, target: EditTarget, ctx: GuardContext): Refusal | null {
  if (target.state === 'unknown' || target.author === ctx.userId) return null;
  const deleted = target.state === 'deleted' ? ' (deleted)' : '';
  return refuse('edit_not_author', `message ${messageId}${deleted} belongs to ${target.author}`);
}

export function editValueRule(value: unknown): Refusal | null {
  const shape = editShapeError(value);
  return shape ? refuse('edit_shape', shape) : null;
}

/**
 * Removing `edits[messageId]`: its author, or an owner (who removes the edit
 * together with the message it moderates: protocol `deleteMessage` does both).
 * When the author is unknown (the message is gone and garbage-collected), the
 * entry is inert and anyone who may write may clean it up.
 */
export function editDeleteRule(messageId: string, target: EditTarget, ctx: GuardContext): Refusal | null {
  if (ctx.role === 'owner' || target.state === 'unknown' || target.author === ctx.userId) return null;
  return refuse('edit_not_author', `only the author of ${messageId} or an owner may remove its edit`);
}

/** Writing or removing `reactions[<messageId>|<userId>|<emoji>]`: only the user named in the key. */
export function reactionKeyRule(key: string, ctx: GuardContext): Refusal | null {
  const parsed = parseReactionKey(key);
  if (!parsed) return refuse('reaction_shape', 'reaction key is not <messageId>|<userId>|<emoji>');
  if (parsed.userId !== ctx.userId) return refuse('reaction_not_own', `reaction belongs to ${parsed.userId}`);
  return null;
}

export function reactionValueRule(value: unknown): Refusal | null {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return null;
  return refuse('reaction_shape', 'reaction value is not epoch milliseconds');
}

/** Writing or removing `reads[userId]`: only that user. */
export function readKeyRule(key: string, ctx: GuardContext): Refusal | null {
  return key === ctx.userId ? null : refuse('read_not_own', `read marker belongs to ${key}`);
}

export function readValueRule(value: unknown): Refusal | null {
  const shape = readMarkerShapeError(value);
  return shape ? refuse('read_shape', shape) : null;
}
