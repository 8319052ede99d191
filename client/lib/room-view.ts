import {
  type ChatMessage,
  MAX_TEXT_CHARS,
  type MessageView,
  type ReadMarker,
  readMessages,
  roomMaps,
  textLength,
  type UserId,
  unreadCount,
} from '@confab/protocol';
import type * as Y from 'yjs';
import type { DocStatus } from './sync-client';

/**
 * Pure shaping of room documents for the screens: grouping, summaries for the
 * room list, "seen by", mentions. No React, no I/O: tested with plain values.
 */

/** Messages closer than this from the same author share one header. */
export const GROUP_GAP_MS = 5 * 60_000;

/** A message as the list shows it: possibly the placeholder of one deleted while the room was open. */
export type DisplayMessage = MessageView & { deleted?: true };

/**
 * A message deleted while this device watched the room. The schema removes a
 * deleted message for good, so its place can only be shown to those who saw
 * it go (until they reload).
 */
export interface Tombstone {
  id: string;
  author: string;
  createdAt: number;
}

/** Puts each tombstone after the last message not newer than it (messages are in creation order). */
export function withTombstones(messages: readonly MessageView[], tombstones: readonly Tombstone[]): DisplayMessage[] {
  if (tombstones.length === 0) return messages as DisplayMessage[];
  const sorted = [...tombstones].sort((a, b) => a.createdAt - b.createdAt);
  const out: DisplayMessage[] = [];
  let t = 0;
  for (const message of messages) {
    while (t < sorted.length && sorted[t]!.createdAt < message.createdAt) out.push(placeholder(sorted[t++]!));
    out.push(message);
  }
  while (t < sorted.length) out.push(placeholder(sorted[t++]!));
  return out;
}

function placeholder(t: Tombstone): DisplayMessage {
  return {
    id: t.id as MessageView['id'],
    author: t.author as MessageView['author'],
    text: '',
    createdAt: t.createdAt,
    reactions: {},
    deleted: true,
  };
}

export interface MessageRow {
  message: DisplayMessage;
  /** Show author name and time (first of a run by one author). */
  showHeader: boolean;
  /** Set on the first message of a calendar day (in the viewer's time zone). */
  day: string | null;
}

const dayFormats = new Map<string, Intl.DateTimeFormat>();

/** `YYYY-MM-DD` in `timeZone` (the viewer's by default). Formatters are cached: rooms have 50,000 messages. */
export function dayKey(epochMs: number, timeZone?: string): string {
  const zone = timeZone ?? '';
  let format = dayFormats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone: timeZone || undefined,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    dayFormats.set(zone, format);
  }
  return format.format(epochMs);
}

export function groupMessages(messages: readonly DisplayMessage[], timeZone?: string): MessageRow[] {
  const rows: MessageRow[] = [];
  let previous: DisplayMessage | null = null;
  let previousDay = '';
  for (const message of messages) {
    const day = dayKey(message.createdAt, timeZone);
    const newDay = day !== previousDay;
    const showHeader =
      newDay ||
      previous === null ||
      previous.author !== message.author ||
      message.createdAt - previous.createdAt > GROUP_GAP_MS ||
      message.replyTo !== undefined;
    rows.push({ message, showHeader, day: newDay ? day : null });
    previous = message;
    previousDay = day;
  }
  return rows;
}

export interface RoomSummary {
  roomId: string;
  unread: number;
  lastMessage: { author: string; text: string; createdAt: number } | null;
  /** When something last happened: the last message, else the room's creation. */
  lastActivityMs: number;
}

export function summarizeRoom(roomId: string, doc: Y.Doc, userId: UserId, createdAtMs: number): RoomSummary {
  const { messages, edits } = roomMaps(doc);
  const last: ChatMessage | undefined = messages.length > 0 ? messages.get(messages.length - 1) : undefined;
  const text = last ? (edits.get(last.id)?.text ?? last.text) : '';
  return {
    roomId,
    unread: unreadCount(doc, userId),
    lastMessage: last ? { author: last.author, text, createdAt: last.createdAt } : null,
    lastActivityMs: last ? Math.max(last.createdAt, createdAtMs) : createdAtMs,
  };
}

/** Most recent activity first; ties broken by id so the order is stable. */
export function sortByActivity<T extends { lastActivityMs: number; roomId: string }>(rooms: readonly T[]): T[] {
  return [...rooms].sort((a, b) => b.lastActivityMs - a.lastActivityMs || a.roomId.localeCompare(b.roomId));
}

/**
 * Who has read up to (at least) `messageId`, other than `selfId`: their read
 * marker points at that message or a later one.
 */
export function seenBy(
  messageIds: readonly string[],
  reads: ReadonlyMap<string, ReadMarker>,
  messageId: string,
  selfId: string,
): string[] {
  const target = messageIds.lastIndexOf(messageId);
  if (target < 0) return [];
  const position = new Map<string, number>();
  const readers: string[] = [];
  for (const [userId, marker] of reads) {
    if (userId === selfId) continue;
    let index = position.get(marker.messageId);
    if (index === undefined) {
      index = messageIds.lastIndexOf(marker.messageId);
      position.set(marker.messageId, index);
    }
    if (index >= target) readers.push(userId);
  }
  return readers.sort();
}

export interface MemberName {
  userId: string;
  displayName: string;
}

/** User ids of the members named as `@Display Name` in `text` (longest names first, so "Ann Lee" beats "Ann"). */
export function extractMentions(text: string, members: readonly MemberName[]): string[] {
  const found = new Set<string>();
  // Where a longer name already matched, a shorter one ("@Ann" in "@Ann Lee") does not.
  const taken = new Set<number>();
  const lower = text.toLowerCase();
  const byLength = [...members].sort((a, b) => b.displayName.length - a.displayName.length);
  for (const member of byLength) {
    const needle = `@${member.displayName.toLowerCase()}`;
    let from = 0;
    for (;;) {
      const at = lower.indexOf(needle, from);
      if (at < 0) break;
      const after = lower[at + needle.length];
      if (!taken.has(at) && (after === undefined || !/[\p{L}\p{N}_]/u.test(after))) {
        found.add(member.userId);
        taken.add(at);
        break;
      }
      from = at + 1;
    }
  }
  return [...found];
}

/** From this many characters the composer shows how many are left. */
export const LIMIT_SHOWN_FROM = MAX_TEXT_CHARS - 400;

/**
 * What the composer says about the length of what it would send (the text as typed, trimmed),
 * counted as the room schema counts it (code points: an emoji is one). The text box has no
 * `maxLength`: the browser would cut a paste short without a word (and count an emoji twice);
 * instead a text over the limit stays as it is, is said to be too long, and is not sent.
 */
export function composerLimit(text: string): { over: number; note: string | null } {
  const length = textLength(text.trim());
  const over = Math.max(0, length - MAX_TEXT_CHARS);
  if (over > 0) {
    return { over, note: `${over.toLocaleString('en')} ${over === 1 ? 'character' : 'characters'} too long to send` };
  }
  if (length < LIMIT_SHOWN_FROM) return { over: 0, note: null };
  return { over: 0, note: `${length.toLocaleString('en')} / ${MAX_TEXT_CHARS.toLocaleString('en')}` };
}

/** The `@partial` word ending at `caret`, or null when the caret is not in a mention. */
export function mentionQuery(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const match = /(^|\s)@([\p{L}\p{N}_ .-]{0,32})$/u.exec(before);
  if (!match) return null;
  const query = match[2] ?? '';
  if (query.includes('  ')) return null;
  return { start: caret - query.length - 1, query };
}

export function mentionCandidates(members: readonly MemberName[], query: string, limit = 6): MemberName[] {
  const q = query.trim().toLowerCase();
  return members.filter((m) => m.displayName.toLowerCase().startsWith(q)).slice(0, limit);
}

/** The user id an awareness state declares (the server relays only states whose id is the connection's user). */
function awarenessUserId(state: unknown): string | null {
  const id = (state as { user?: { id?: unknown } } | null)?.user?.id;
  return typeof id === 'string' ? id : null;
}

/**
 * Who is typing, from awareness states `{user:{id,displayName}, typing}`,
 * without oneself, named by the room's member list (`members`: userId →
 * display name). The display name in an awareness state is self-declared (a
 * member could announce itself as "Alice"), so it is never shown; only the
 * user id is trusted, and states of users who are not members are ignored.
 */
export function typingNames(states: Iterable<unknown>, selfId: string, members: ReadonlyMap<string, string>): string[] {
  const names = new Set<string>();
  for (const state of states) {
    const id = awarenessUserId(state);
    if (id === null || id === selfId || (state as { typing?: unknown }).typing !== true) continue;
    const name = members.get(id);
    if (name !== undefined) names.add(name);
  }
  return [...names].sort();
}

/** The members with at least one open tab in the room (awareness users who are not members are ignored). */
export function onlineUserIds(states: Iterable<unknown>, members: ReadonlyMap<string, string>): string[] {
  const ids = new Set<string>();
  for (const state of states) {
    const id = awarenessUserId(state);
    if (id !== null && members.has(id)) ids.add(id);
  }
  return [...ids].sort();
}

/**
 * Awareness users missing from the member list: someone who joined after the
 * list was loaded (or a stale cached list). The screen reloads the member list
 * when this is not empty, instead of believing the name they announce.
 */
export function unknownAwarenessUsers(states: Iterable<unknown>, members: ReadonlyMap<string, string>): string[] {
  const ids = new Set<string>();
  for (const state of states) {
    const id = awarenessUserId(state);
    if (id !== null && !members.has(id)) ids.add(id);
  }
  return [...ids].sort();
}

export { readMessages };

/** A room's sync status as its header shows it: `denied` has a screen of its own. */
export type HeaderStatus = Exclude<DocStatus, { kind: 'denied' }>;

/**
 * The room header's status pill, and the sentence under the header when the server said why it is
 * not serving the room (`try_again_later`: a database it cannot reach). Without a reason, offline is
 * the network's doing and the pill says all there is.
 */
export function roomStatusText(status: HeaderStatus, onlineCount: number): { pill: string; notice: string | null } {
  switch (status.kind) {
    case 'synced':
      return { pill: `${onlineCount} online`, notice: null };
    case 'loading':
      return { pill: 'Loading…', notice: null };
    case 'connecting':
      return { pill: 'Syncing…', notice: status.message ?? null };
    case 'offline':
      return {
        pill: status.reason ? 'Retrying · changes kept here' : 'Offline · changes kept here',
        notice: status.message ?? null,
      };
  }
}
