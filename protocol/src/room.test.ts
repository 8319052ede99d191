import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import type { MessageId, UserId } from './ids';
import {
  appendMessage,
  canonicalEmoji,
  deleteMessage,
  editMessage,
  editShapeError,
  firstUnreadId,
  MAX_TEXT_CHARS,
  markRead,
  markUnreadFrom,
  messageShapeError,
  parseReactionKey,
  reactionKey,
  readMarkerShapeError,
  readMessages,
  roomMaps,
  setReaction,
  textLength,
  unreadCount,
} from './room';

const alice = 'alice' as UserId;
const bob = 'bob' as UserId;
const id = (n: number) => `m${n}` as MessageId;

function post(doc: Y.Doc, n: number, author: UserId, text = `hello ${n}`) {
  return appendMessage(doc, { id: id(n), author, text, createdAt: 1_700_000_000_000 + n });
}

describe('room schema v1 accessors', () => {
  it('appends messages at the end and reads them back in order', () => {
    const doc = new Y.Doc();
    post(doc, 1, alice);
    post(doc, 2, bob);
    expect(readMessages(doc).map((m) => [m.id, m.author, m.text])).toEqual([
      ['m1', 'alice', 'hello 1'],
      ['m2', 'bob', 'hello 2'],
    ]);
  });

  it('stores replyTo and deduplicated mentions only when given', () => {
    const doc = new Y.Doc();
    const plain = post(doc, 1, alice);
    const reply = appendMessage(doc, {
      id: id(2),
      author: bob,
      text: 'yes @alice',
      createdAt: 1,
      replyTo: id(1),
      mentions: [alice, alice],
    });
    expect(Object.keys(plain).sort()).toEqual(['author', 'createdAt', 'id', 'text']);
    expect(reply.replyTo).toBe('m1');
    expect(reply.mentions).toEqual(['alice']);
  });

  it('refuses to append an empty, blank or over-long text', () => {
    const doc = new Y.Doc();
    expect(() => post(doc, 1, alice, '')).toThrow(RangeError);
    expect(() => post(doc, 2, alice, '   ')).toThrow(RangeError);
    expect(() => post(doc, 3, alice, 'x'.repeat(MAX_TEXT_CHARS + 1))).toThrow(RangeError);
    expect(roomMaps(doc).messages.length).toBe(0);
  });

  it('counts text length in code points, so 4000 emoji fit', () => {
    const emoji = '😀'.repeat(MAX_TEXT_CHARS);
    expect(emoji.length).toBe(MAX_TEXT_CHARS * 2);
    expect(textLength(emoji)).toBe(MAX_TEXT_CHARS);
    expect(messageShapeError({ id: 'a', author: 'b', text: emoji, createdAt: 0 })).toBeNull();
  });

  it('shows the latest edit with its time', () => {
    const doc = new Y.Doc();
    post(doc, 1, alice);
    editMessage(doc, id(1), 'fixed', 42);
    const [m] = readMessages(doc);
    expect(m?.text).toBe('fixed');
    expect(m?.editedAt).toBe(42);
  });

  it('deletes a message and its edit for good', () => {
    const doc = new Y.Doc();
    post(doc, 1, alice);
    post(doc, 2, alice);
    editMessage(doc, id(1), 'secret edit', 5);
    expect(deleteMessage(doc, id(1))).toBe(true);
    expect(deleteMessage(doc, id(1))).toBe(false);
    expect(readMessages(doc).map((m) => m.id)).toEqual(['m2']);
    expect(roomMaps(doc).edits.has('m1')).toBe(false);
    // The deleted text does not survive in the encoded document (Yjs GC).
    const encoded = new TextDecoder().decode(Y.encodeStateAsUpdate(doc));
    expect(encoded).not.toContain('hello 1');
    expect(encoded).not.toContain('secret edit');
  });

  it('groups reactions per emoji and removes them', () => {
    const doc = new Y.Doc();
    post(doc, 1, alice);
    setReaction(doc, id(1), alice, '👍', true, 1);
    setReaction(doc, id(1), bob, '👍', true, 2);
    setReaction(doc, id(1), bob, '🎉', true, 3);
    expect(readMessages(doc)[0]?.reactions).toEqual({ '👍': ['alice', 'bob'], '🎉': ['bob'] });
    setReaction(doc, id(1), bob, '👍', false, 4);
    expect(readMessages(doc)[0]?.reactions).toEqual({ '👍': ['alice'], '🎉': ['bob'] });
  });

  it('writes an emoji one way whatever spelling a picker gave it, and counts older spellings with it', () => {
    const doc = new Y.Doc();
    post(doc, 1, alice);
    // Emojibase (the picker) writes 👍 with a variation selector; the quick buttons do not.
    setReaction(doc, id(1), alice, '👍\uFE0F', true, 1);
    setReaction(doc, id(1), bob, '👍', true, 2);
    expect([...roomMaps(doc).reactions.keys()]).toEqual(['m1|alice|👍', 'm1|bob|👍']);
    expect(readMessages(doc)[0]?.reactions).toEqual({ '👍': ['alice', 'bob'] });
    // A selector that makes the emoji (❤ alone is a text heart) stays.
    setReaction(doc, id(1), bob, '❤\uFE0F', true, 3);
    expect(roomMaps(doc).reactions.has('m1|bob|❤\uFE0F')).toBe(true);

    // A reaction stored before, in the other spelling, counts once with the rest and goes with either.
    roomMaps(doc).reactions.set('m1|carol|👍\uFE0F', 4);
    roomMaps(doc).reactions.set('m1|bob|👍\uFE0F', 5);
    expect(readMessages(doc)[0]?.reactions['👍']).toEqual(['alice', 'bob', 'carol']);
    setReaction(doc, id(1), bob, '👍', false, 6);
    setReaction(doc, id(1), 'carol' as UserId, '👍', false, 7);
    expect(readMessages(doc)[0]?.reactions).toEqual({ '👍': ['alice'], '❤\uFE0F': ['bob'] });
  });

  it('keeps the selectors that make an emoji, and drops the others', () => {
    expect(canonicalEmoji('👍\uFE0F')).toBe('👍');
    expect(canonicalEmoji('😂')).toBe('😂');
    expect(canonicalEmoji('❤\uFE0F')).toBe('❤\uFE0F');
    expect(canonicalEmoji('1\uFE0F\u20E3')).toBe('1\uFE0F\u20E3');
    expect(canonicalEmoji('🏳\uFE0F\u200D🌈')).toBe('🏳\uFE0F\u200D🌈');
    expect(canonicalEmoji('👩\u200D💻')).toBe('👩\u200D💻');
  });

  it('parses reaction keys and refuses malformed ones', () => {
    expect(parseReactionKey(reactionKey('m1', 'u1', '👍'))).toEqual({ messageId: 'm1', userId: 'u1', emoji: '👍' });
    expect(parseReactionKey('m1|u1')).toBeNull();
    expect(parseReactionKey('m1|u 1|👍')).toBeNull();
    expect(parseReactionKey('m1|u1|')).toBeNull();
    expect(parseReactionKey('m1|u1|a b')).toBeNull();
  });

  it('counts unread messages from others after the read marker', () => {
    const doc = new Y.Doc();
    post(doc, 1, bob);
    post(doc, 2, bob);
    post(doc, 3, alice);
    post(doc, 4, bob);
    expect(unreadCount(doc, alice)).toBe(3);
    markRead(doc, alice, id(2), 10);
    expect(unreadCount(doc, alice)).toBe(1);
    markRead(doc, alice, id(4), 11);
    expect(unreadCount(doc, alice)).toBe(0);
  });

  it('counts by time when the read marker points at a message deleted since', () => {
    const doc = new Y.Doc();
    post(doc, 1, bob);
    post(doc, 2, bob);
    markRead(doc, alice, id(2), 1_700_000_000_002);
    post(doc, 3, bob);
    post(doc, 4, alice);
    post(doc, 5, bob);
    deleteMessage(doc, id(2));
    // Not all four of Bob's messages: only the two written after Alice read up to m2.
    expect(unreadCount(doc, alice)).toBe(2);
  });

  describe('markUnreadFrom', () => {
    const room = () => {
      const doc = new Y.Doc();
      post(doc, 1, bob);
      post(doc, 2, alice);
      post(doc, 3, bob);
      post(doc, 4, bob);
      markRead(doc, alice, id(4), 1_700_000_000_100);
      return doc;
    };

    it('makes the message and every later one of others unread, with the line above it', () => {
      const doc = room();
      expect(unreadCount(doc, alice)).toBe(0);
      expect(markUnreadFrom(doc, alice, id(3))).toBe(true);
      expect(roomMaps(doc).reads.get(alice)).toEqual({ messageId: 'm2', at: 1_700_000_000_002 });
      expect(unreadCount(doc, alice)).toBe(2);
      expect(firstUnreadId(doc, roomMaps(doc).reads.get(alice), alice)).toBe('m3');
    });

    it('still counts from the message when the one before it is deleted afterwards', () => {
      const doc = room();
      markUnreadFrom(doc, alice, id(3));
      deleteMessage(doc, id(2));
      expect(unreadCount(doc, alice)).toBe(2);
      expect(firstUnreadId(doc, roomMaps(doc).reads.get(alice), alice)).toBe('m3');
    });

    it("takes the marker away for the room's first message: everything of others is unread", () => {
      const doc = room();
      expect(markUnreadFrom(doc, alice, id(1))).toBe(true);
      expect(roomMaps(doc).reads.has(alice)).toBe(false);
      expect(unreadCount(doc, alice)).toBe(3);
      expect(firstUnreadId(doc, undefined, alice)).toBe('m1');
    });

    it('changes nothing for a message that is not in the room, nor for another user', () => {
      const doc = room();
      markRead(doc, bob, id(4), 1_700_000_000_100);
      expect(markUnreadFrom(doc, alice, id(9))).toBe(false);
      expect(roomMaps(doc).reads.get(alice)?.messageId).toBe('m4');
      markUnreadFrom(doc, alice, id(3));
      expect(roomMaps(doc).reads.get(bob)?.messageId).toBe('m4');
    });
  });

  describe('firstUnreadId', () => {
    const room = () => {
      const doc = new Y.Doc();
      post(doc, 1, bob);
      post(doc, 2, bob);
      post(doc, 3, alice);
      post(doc, 4, bob);
      return doc;
    };
    const at = (n: number) => 1_700_000_000_000 + n;

    it("is the first of someone else's messages after the read marker", () => {
      expect(firstUnreadId(room(), { messageId: id(1), at: at(10) }, alice)).toBe('m2');
      // Alice's own message after the marker is not news to her.
      expect(firstUnreadId(room(), { messageId: id(2), at: at(10) }, alice)).toBe('m4');
    });

    it('is null when everything was read', () => {
      expect(firstUnreadId(room(), { messageId: id(4), at: at(10) }, alice)).toBeNull();
      expect(firstUnreadId(new Y.Doc(), { messageId: id(1), at: at(10) }, alice)).toBeNull();
    });

    it("is the first of someone else's messages when nothing was read yet", () => {
      const doc = new Y.Doc();
      post(doc, 1, alice);
      post(doc, 2, bob);
      expect(firstUnreadId(doc, undefined, alice)).toBe('m2');
      expect(firstUnreadId(doc, undefined, bob)).toBe('m1');
      expect(firstUnreadId(new Y.Doc(), undefined, alice)).toBeNull();
    });

    it("goes by the marker's time when its message is gone", () => {
      const doc = room();
      deleteMessage(doc, id(2));
      expect(firstUnreadId(doc, { messageId: id(2), at: at(2) }, alice)).toBe('m4');
      expect(firstUnreadId(doc, { messageId: id(2), at: at(4) }, alice)).toBeNull();
    });
  });

  it('appends after trailing deleted messages, at the very end as the sender saw it', () => {
    const doc = new Y.Doc();
    post(doc, 1, alice);
    post(doc, 2, alice);
    deleteMessage(doc, id(2));
    const appended: Y.Item[] = [];
    doc.on('afterTransaction', (tr: Y.Transaction) => {
      for (const [client, clock] of tr.afterState) {
        if (clock > (tr.beforeState.get(client) ?? 0)) {
          const structs = doc.store.clients.get(client) ?? [];
          appended.push(structs[structs.length - 1] as Y.Item);
        }
      }
    });
    post(doc, 3, alice);
    // Nothing to its right (not even the deleted message): the guard's "appended at the end" rule.
    expect(appended[0]?.rightOrigin).toBeNull();
    expect(readMessages(doc).map((m) => m.id)).toEqual(['m1', 'm3']);
  });

  it('converges when two replicas append concurrently', () => {
    const a = new Y.Doc();
    const b = new Y.Doc();
    post(a, 1, alice);
    post(b, 2, bob);
    Y.applyUpdate(a, Y.encodeStateAsUpdate(b));
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
    expect(readMessages(a)).toEqual(readMessages(b));
    expect(readMessages(a)).toHaveLength(2);
  });
});

describe('shape checks', () => {
  it('accepts a complete message and names what is wrong with a bad one', () => {
    const good = { id: 'm1', author: 'u1', text: 'hi', createdAt: 1, replyTo: 'm0', mentions: ['u2'] };
    expect(messageShapeError(good)).toBeNull();
    expect(messageShapeError({ ...good, html: '<b>' })).toBe('unknown field html');
    expect(messageShapeError({ ...good, author: 'a b' })).toMatch(/author/);
    expect(messageShapeError({ ...good, createdAt: -1 })).toMatch(/createdAt/);
    expect(messageShapeError({ ...good, mentions: 'u2' })).toMatch(/mentions/);
    expect(messageShapeError([good])).toMatch(/not an object/);
    expect(messageShapeError(null)).toMatch(/not an object/);
  });

  it('checks edits and read markers field by field', () => {
    expect(editShapeError({ text: 'x', editedAt: 1 })).toBeNull();
    expect(editShapeError({ text: '', editedAt: 1 })).toMatch(/text/);
    expect(editShapeError({ text: 'x', editedAt: 1, by: 'u' })).toMatch(/unknown/);
    expect(readMarkerShapeError({ messageId: 'm1', at: 3 })).toBeNull();
    expect(readMarkerShapeError({ messageId: 'm1', at: 1.5 })).toMatch(/at/);
  });
});
