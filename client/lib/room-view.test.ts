import {
  appendMessage,
  CLOSE,
  MAX_TEXT_CHARS,
  type MessageId,
  type MessageView,
  markRead,
  type ReadMarker,
  type UserId,
} from '@confab/protocol';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import {
  composerLimit,
  extractMentions,
  groupMessages,
  LIMIT_SHOWN_FROM,
  mentionCandidates,
  mentionQuery,
  onlineUserIds,
  roomStatusText,
  seenBy,
  sortByActivity,
  summarizeRoom,
  typingNames,
  unknownAwarenessUsers,
  withTombstones,
} from './room-view';
import { explainClose } from './sync-client';

const view = (id: string, author: string, createdAt: number, extra: Partial<MessageView> = {}): MessageView => ({
  id: id as MessageId,
  author: author as UserId,
  text: 'x',
  createdAt,
  reactions: {},
  ...extra,
});

const DAY1 = Date.UTC(2026, 10, 26, 10, 0);

describe('room view', () => {
  it('groups consecutive messages by the same author and starts a new group each day', () => {
    const rows = groupMessages(
      [
        view('1', 'ann', DAY1),
        view('2', 'ann', DAY1 + 60_000),
        view('3', 'bob', DAY1 + 120_000),
        view('4', 'bob', DAY1 + 24 * 3600_000),
      ],
      'UTC',
    );
    expect(rows.map((r) => [r.message.id, r.showHeader, r.day])).toEqual([
      ['1', true, '2026-11-26'],
      ['2', false, null],
      ['3', true, null],
      ['4', true, '2026-11-27'],
    ]);
  });

  it('starts a new group after a five-minute pause', () => {
    const rows = groupMessages([view('1', 'ann', DAY1), view('2', 'ann', DAY1 + 6 * 60_000)], 'UTC');
    expect(rows.map((r) => r.showHeader)).toEqual([true, true]);
  });

  it('summarizes a room with its unread count and last message, with edits applied', () => {
    const doc = new Y.Doc();
    const me = 'me' as UserId;
    const other = 'other' as UserId;
    appendMessage(doc, { id: 'm1' as MessageId, author: other, text: 'hello', createdAt: 10 });
    markRead(doc, me, 'm1' as MessageId, 11);
    appendMessage(doc, { id: 'm2' as MessageId, author: other, text: 'again', createdAt: 20 });
    appendMessage(doc, { id: 'm3' as MessageId, author: me, text: 'mine', createdAt: 30 });
    doc.getMap('edits').set('m3', { text: 'mine, edited', editedAt: 31 });
    expect(summarizeRoom('r', doc, me, 5)).toEqual({
      roomId: 'r',
      unread: 1,
      lastMessage: { author: 'me', text: 'mine, edited', createdAt: 30 },
      lastActivityMs: 30,
    });
  });

  it('sorts rooms by their last activity, newest first', () => {
    const sorted = sortByActivity([
      { roomId: 'a', lastActivityMs: 1 },
      { roomId: 'b', lastActivityMs: 3 },
      { roomId: 'c', lastActivityMs: 2 },
    ]);
    expect(sorted.map((r) => r.roomId)).toEqual(['b', 'c', 'a']);
  });

  it('lists as "seen by" the others whose read marker is at or after a message', () => {
    const reads = new Map<string, ReadMarker>([
      ['me', { messageId: 'm3' as MessageId, at: 1 }],
      ['ann', { messageId: 'm2' as MessageId, at: 1 }],
      ['bob', { messageId: 'm1' as MessageId, at: 1 }],
      ['cyd', { messageId: 'm3' as MessageId, at: 1 }],
    ]);
    expect(seenBy(['m1', 'm2', 'm3'], reads, 'm2', 'me')).toEqual(['ann', 'cyd']);
  });

  it('finds @mentions of members, preferring the longest matching name', () => {
    const members = [
      { userId: 'u1', displayName: 'Ann' },
      { userId: 'u2', displayName: 'Ann Lee' },
      { userId: 'u3', displayName: 'Bob' },
    ];
    expect(extractMentions('hi @Ann Lee and @bob!', members).sort()).toEqual(['u2', 'u3']);
    expect(extractMentions('mail ann@example.org, @Annie', members)).toEqual([]);
  });

  it('says how long a message is near the limit, and by how much it is over, counting as the schema does', () => {
    expect(composerLimit('hello')).toEqual({ over: 0, note: null });
    expect(composerLimit('x'.repeat(LIMIT_SHOWN_FROM - 1))).toEqual({ over: 0, note: null });
    expect(composerLimit('x'.repeat(3800))).toEqual({ over: 0, note: '3,800 / 4,000' });
    // Trimmed as it would be sent: blanks around the text do not count.
    expect(composerLimit(`  ${'x'.repeat(MAX_TEXT_CHARS)}\n\n`)).toEqual({ over: 0, note: '4,000 / 4,000' });
    expect(composerLimit('x'.repeat(MAX_TEXT_CHARS + 1))).toEqual({ over: 1, note: '1 character too long to send' });
    expect(composerLimit('x'.repeat(4100))).toEqual({ over: 100, note: '100 characters too long to send' });
    // An emoji is one character (two UTF-16 units): 4,000 of them may be sent.
    expect(composerLimit('😀'.repeat(MAX_TEXT_CHARS)).over).toBe(0);
    expect(composerLimit('😀'.repeat(MAX_TEXT_CHARS + 2)).over).toBe(2);
  });

  it('suggests members for the @word being typed', () => {
    expect(mentionQuery('hello @an', 9)).toEqual({ start: 6, query: 'an' });
    expect(mentionQuery('mail a@b', 8)).toBeNull();
    expect(
      mentionCandidates(
        [
          { userId: 'u1', displayName: 'Ann' },
          { userId: 'u2', displayName: 'Bob' },
        ],
        'a',
      ),
    ).toEqual([{ userId: 'u1', displayName: 'Ann' }]);
  });

  const roster = new Map([
    ['me', 'Me'],
    ['u2', 'Bob'],
    ['u3', 'Cy'],
    ['u4', 'Alice'],
  ]);

  it('names the other members who are typing, from awareness states', () => {
    const states = [
      { user: { id: 'me', displayName: 'Me' }, typing: true },
      { user: { id: 'u2', displayName: 'Bob' }, typing: true },
      { user: { id: 'u3', displayName: 'Cy' }, typing: false },
      { typing: true },
      null,
    ];
    expect(typingNames(states, 'me', roster)).toEqual(['Bob']);
  });

  it('names a typist by the member list, never by the name they announce in awareness', () => {
    const states = [{ user: { id: 'u2', displayName: 'Alice' }, typing: true }];
    expect(typingNames(states, 'me', roster)).toEqual(['Bob']);
  });

  it('ignores typists and online users who are not members of the room', () => {
    const states = [
      { user: { id: 'stranger', displayName: 'Alice' }, typing: true },
      { user: { id: 'u3', displayName: 'Cy' }, typing: false },
    ];
    expect(typingNames(states, 'me', roster)).toEqual([]);
    expect(onlineUserIds(states, roster)).toEqual(['u3']);
    expect(unknownAwarenessUsers(states, roster)).toEqual(['stranger']);
  });

  it('counts each online member once however many tabs they have open', () => {
    const states = [{ user: { id: 'u2' } }, { user: { id: 'u2' } }, { user: { id: 'me' } }, { user: { id: 7 } }];
    expect(onlineUserIds(states, roster)).toEqual(['me', 'u2']);
    expect(unknownAwarenessUsers(states, roster)).toEqual([]);
  });

  it('shows a message deleted while the room was open as a placeholder in its place', () => {
    const list = withTombstones(
      [view('1', 'ann', 10), view('3', 'ann', 30)],
      [
        { id: '2', author: 'bob', createdAt: 20 },
        { id: '4', author: 'bob', createdAt: 40 },
      ],
    );
    expect(list.map((m) => [m.id, m.deleted ?? false])).toEqual([
      ['1', false],
      ['2', true],
      ['3', false],
      ['4', true],
    ]);
  });
});

describe('roomStatusText', () => {
  it('counts who is online once synced, and shows no notice', () => {
    expect(roomStatusText({ kind: 'synced' }, 3)).toEqual({ pill: '3 online', notice: null });
  });

  it('says offline with changes kept when the network is gone, without a notice', () => {
    expect(roomStatusText({ kind: 'offline' }, 3)).toEqual({ pill: 'Offline · changes kept here', notice: null });
  });

  it("shows the server's reason under the header while it cannot serve the room, and says it retries", () => {
    const message = explainClose(CLOSE.tryAgainLater.reason);
    expect(roomStatusText({ kind: 'offline', reason: CLOSE.tryAgainLater.reason, message }, 0)).toEqual({
      pill: 'Retrying · changes kept here',
      notice: message,
    });
    // The retry's own connecting phase keeps the sentence, so it does not flicker away and back.
    expect(roomStatusText({ kind: 'connecting', reason: CLOSE.tryAgainLater.reason, message }, 0)).toEqual({
      pill: 'Syncing…',
      notice: message,
    });
  });
});
