import type * as Y from 'yjs';
import type { MessageId, UserId } from './ids';

/**
 * Room document schema v1 (`room:<roomId>`), as typed accessors over a Y.Doc.
 * Both the client and the servers go through these, so the shape written is
 * the shape the sync server's guard accepts. See docs/room-schema.md.
 */
export const ROOM_KEYS = ['messages', 'edits', 'reactions', 'reads'] as const;
export type RoomKey = (typeof ROOM_KEYS)[number];

export const MAX_TEXT_CHARS = 4000;
export const MAX_MENTIONS = 50;
export const MAX_EMOJI_CHARS = 16;

export interface ChatMessage {
  id: MessageId;
  author: UserId;
  text: string;
  createdAt: number;
  replyTo?: MessageId;
  mentions?: UserId[];
}

export interface MessageEdit {
  text: string;
  editedAt: number;
}

export interface ReadMarker {
  messageId: MessageId;
  at: number;
}

/** A message as a reader sees it: the last edit applied, reactions grouped by emoji. */
export interface MessageView extends ChatMessage {
  editedAt?: number;
  reactions: Record<string, UserId[]>;
}

export interface RoomMaps {
  messages: Y.Array<ChatMessage>;
  edits: Y.Map<MessageEdit>;
  reactions: Y.Map<number>;
  reads: Y.Map<ReadMarker>;
}

export function roomMaps(doc: Y.Doc): RoomMaps {
  return {
    messages: doc.getArray<ChatMessage>('messages'),
    edits: doc.getMap<MessageEdit>('edits'),
    reactions: doc.getMap<number>('reactions'),
    reads: doc.getMap<ReadMarker>('reads'),
  };
}

/** Text length in user-perceived units (code points), so an emoji counts once. */
export function textLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const isId = (v: unknown): v is string => typeof v === 'string' && ID.test(v);
const isEpochMs = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function isValidText(text: unknown): text is string {
  if (typeof text !== 'string') return false;
  const n = textLength(text);
  return n >= 1 && n <= MAX_TEXT_CHARS && text.trim().length > 0;
}

/**
 * Checks a value against the v1 message shape. Returns the reason it is
 * invalid, or null when it is a valid message. No extra keys are allowed, so
 * nothing can be smuggled into a message that other clients would render.
 */
export function messageShapeError(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'message is not an object';
  const m = value as Record<string, unknown>;
  for (const key of Object.keys(m)) {
    if (!['id', 'author', 'text', 'createdAt', 'replyTo', 'mentions'].includes(key)) return `unknown field ${key}`;
  }
  if (!isId(m.id)) return 'id is not a valid id';
  if (!isId(m.author)) return 'author is not a valid id';
  if (!isValidText(m.text)) return `text must be 1 to ${MAX_TEXT_CHARS} characters`;
  if (!isEpochMs(m.createdAt)) return 'createdAt is not epoch milliseconds';
  if (m.replyTo !== undefined && !isId(m.replyTo)) return 'replyTo is not a valid id';
  if (m.mentions !== undefined) {
    if (!Array.isArray(m.mentions) || m.mentions.length > MAX_MENTIONS || !m.mentions.every(isId)) {
      return 'mentions must be a list of user ids';
    }
  }
  return null;
}

export function editShapeError(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'edit is not an object';
  const e = value as Record<string, unknown>;
  for (const key of Object.keys(e)) if (key !== 'text' && key !== 'editedAt') return `unknown field ${key}`;
  if (!isValidText(e.text)) return `text must be 1 to ${MAX_TEXT_CHARS} characters`;
  if (!isEpochMs(e.editedAt)) return 'editedAt is not epoch milliseconds';
  return null;
}

export function readMarkerShapeError(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'read marker is not an object';
  const r = value as Record<string, unknown>;
  for (const key of Object.keys(r)) if (key !== 'messageId' && key !== 'at') return `unknown field ${key}`;
  if (!isId(r.messageId)) return 'messageId is not a valid id';
  if (!isEpochMs(r.at)) return 'at is not epoch milliseconds';
  return null;
}

/** `<messageId>|<userId>|<emoji>` */
export function reactionKey(messageId: MessageId | string, userId: UserId | string, emoji: string): string {
  return `${messageId}|${userId}|${emoji}`;
}

export function parseReactionKey(key: string): { messageId: MessageId; userId: UserId; emoji: string } | null {
  const first = key.indexOf('|');
  const second = key.indexOf('|', first + 1);
  if (first < 0 || second < 0) return null;
  const messageId = key.slice(0, first);
  const userId = key.slice(first + 1, second);
  const emoji = key.slice(second + 1);
  if (!isId(messageId) || !isId(userId)) return null;
  const n = textLength(emoji);
  if (n < 1 || n > MAX_EMOJI_CHARS || /\s/.test(emoji)) return null;
  return { messageId: messageId as MessageId, userId: userId as UserId, emoji };
}

export interface NewMessage {
  id: MessageId;
  author: UserId;
  text: string;
  createdAt: number;
  replyTo?: MessageId | undefined;
  mentions?: UserId[] | undefined;
}

/** Appends a message at the end of the array (the only place the guard accepts one). */
export function appendMessage(doc: Y.Doc, input: NewMessage): ChatMessage {
  const message: ChatMessage = { id: input.id, author: input.author, text: input.text, createdAt: input.createdAt };
  if (input.replyTo) message.replyTo = input.replyTo;
  if (input.mentions && input.mentions.length > 0) message.mentions = [...new Set(input.mentions)];
  const problem = messageShapeError(message);
  if (problem) throw new RangeError(problem);
  const { messages } = roomMaps(doc);
  // push, not insert(length): push goes after the very last item, deleted ones included, which is
  // "at the end as the sender saw it" for the sync server's guard. insert(length) lands before
  // trailing deleted items, and the guard refuses a message placed before the sender's own.
  messages.push([message]);
  return message;
}

export function editMessage(doc: Y.Doc, messageId: MessageId, text: string, editedAt: number): void {
  const edit: MessageEdit = { text, editedAt };
  const problem = editShapeError(edit);
  if (problem) throw new RangeError(problem);
  roomMaps(doc).edits.set(messageId, edit);
}

/** Deletes a message (and its edit) for good. Returns false when it is not in the room. */
export function deleteMessage(doc: Y.Doc, messageId: MessageId): boolean {
  const { messages, edits } = roomMaps(doc);
  const index = findMessageIndex(messages, messageId);
  if (index < 0) return false;
  doc.transact(() => {
    messages.delete(index, 1);
    if (edits.has(messageId)) edits.delete(messageId);
  });
  return true;
}

/**
 * One spelling per emoji: a variation selector 16 (U+FE0F) after a character that is drawn as an
 * emoji anyway is dropped (`👍️` → `👍`, as Unicode's fully-qualified form has it), one that makes
 * the emoji (`❤️`, `1️⃣`) is kept. Emoji pickers do not agree (Emojibase writes `👍️`): without this
 * the same reaction from the quick buttons and from the picker would count twice, side by side.
 */
export function canonicalEmoji(emoji: string): string {
  return emoji.replace(/(\p{Emoji_Presentation})\uFE0F/gu, '$1');
}

/**
 * Adds (on = true) or removes one user's reaction with one emoji, written in its canonical spelling
 * (`canonicalEmoji`). Removing takes away the user's reaction in any spelling of the emoji.
 */
export function setReaction(
  doc: Y.Doc,
  messageId: MessageId,
  userId: UserId,
  emoji: string,
  on: boolean,
  at: number,
): void {
  const canonical = canonicalEmoji(emoji);
  const key = reactionKey(messageId, userId, canonical);
  if (!parseReactionKey(key)) throw new RangeError('invalid reaction');
  const { reactions } = roomMaps(doc);
  if (on) {
    reactions.set(key, at);
    return;
  }
  // The canonical spelling, and the one pickers such as Emojibase's write (U+FE0F after each emoji).
  const spellings = new Set([canonical, canonical.replace(/(\p{Emoji_Presentation})/gu, '$1\uFE0F')]);
  const doomed = [...spellings].map((e) => reactionKey(messageId, userId, e)).filter((k) => reactions.has(k));
  if (doomed.length === 0) return;
  doc.transact(() => {
    for (const k of doomed) reactions.delete(k);
  });
}

export function markRead(doc: Y.Doc, userId: UserId, messageId: MessageId, at: number): void {
  const { reads } = roomMaps(doc);
  const current = reads.get(userId);
  if (current?.messageId === messageId) return;
  reads.set(userId, { messageId, at });
}

/**
 * "Mark unread": moves the user's read marker back so that `messageId` and every later message of
 * others count as unread again. The marker goes to the message before it, its `at` just before
 * `messageId` was written (so that, should that message be deleted, counting by time as
 * `unreadCount` does still starts here); for the room's first message there is no message before,
 * and the marker goes (as before the user read anything). False when the message is not there.
 */
export function markUnreadFrom(doc: Y.Doc, userId: UserId, messageId: MessageId): boolean {
  const { messages, reads } = roomMaps(doc);
  const index = findMessageIndex(messages, messageId);
  if (index < 0) return false;
  if (index === 0) {
    if (reads.has(userId)) reads.delete(userId);
    return true;
  }
  const before = messages.get(index - 1);
  reads.set(userId, { messageId: before.id, at: Math.max(0, messages.get(index).createdAt - 1) });
  return true;
}

export function findMessageIndex(messages: Y.Array<ChatMessage>, messageId: MessageId | string): number {
  // Newest messages are the likeliest targets of edits, deletes and reactions.
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages.get(i).id === messageId) return i;
  }
  return -1;
}

/** Groups reactions per message: messageId → emoji → user ids (in insertion order). */
export function reactionsByMessage(reactions: Y.Map<number>): Map<string, Record<string, UserId[]>> {
  const out = new Map<string, Record<string, UserId[]>>();
  for (const key of reactions.keys()) {
    const parsed = parseReactionKey(key);
    if (!parsed) continue;
    let perEmoji = out.get(parsed.messageId);
    if (!perEmoji) {
      perEmoji = {};
      out.set(parsed.messageId, perEmoji);
    }
    // Reactions written before spellings were made one (see canonicalEmoji) count with the others.
    const emoji = canonicalEmoji(parsed.emoji);
    const users = perEmoji[emoji] ?? [];
    if (!users.includes(parsed.userId)) users.push(parsed.userId);
    perEmoji[emoji] = users;
  }
  return out;
}

/** The room as readers see it: every message with its edit and reactions applied. */
export function readMessages(doc: Y.Doc): MessageView[] {
  const { messages, edits, reactions } = roomMaps(doc);
  const grouped = reactionsByMessage(reactions);
  return messages.toArray().map((m) => {
    const edit = edits.get(m.id);
    const view: MessageView = { ...m, reactions: grouped.get(m.id) ?? {} };
    if (edit) {
      view.text = edit.text;
      view.editedAt = edit.editedAt;
    }
    return view;
  });
}

/**
 * Messages after the user's read marker that someone else wrote. The marker's
 * message may be gone (deleted since it was read: the schema removes it for
 * good); then what others wrote after the marker was set counts, by the
 * messages' `createdAt` (their senders' clocks), not the whole room.
 */
export function unreadCount(doc: Y.Doc, userId: UserId): number {
  const { messages, reads } = roomMaps(doc);
  const marker = reads.get(userId);
  let count = 0;
  let sinceMarkerTime = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages.get(i);
    if (marker && m.id === marker.messageId) return count;
    if (m.author === userId) continue;
    count++;
    if (marker && m.createdAt > marker.at) sinceMarkerTime++;
  }
  return marker ? sinceMarkerTime : count;
}

/**
 * The first message someone else wrote after the user's read marker, where a
 * room opens with a "New messages" line; null when there is none. Without a
 * marker (the user has not read a message of the room yet) it is the first
 * of the room's messages that someone else wrote, as `unreadCount` counts them.
 * A marker whose message is gone counts by time, as in `unreadCount`. Walks
 * back from the end, so its cost is the unread part when the marker is there.
 */
export function firstUnreadId(doc: Y.Doc, marker: ReadMarker | undefined, userId: UserId): MessageId | null {
  const { messages } = roomMaps(doc);
  let first: MessageId | null = null;
  let firstByTime: MessageId | null = null;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages.get(i);
    if (marker && m.id === marker.messageId) return first;
    if (m.author === userId) continue;
    first = m.id;
    if (marker && m.createdAt > marker.at) firstByTime = m.id;
  }
  return marker ? firstByTime : first;
}
