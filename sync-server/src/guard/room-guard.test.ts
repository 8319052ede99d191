import {
  deleteMessage,
  editMessage,
  type MessageId,
  markRead,
  reactionKey,
  readMessages,
  roomMaps,
  setReaction,
  type UserId,
} from '@confab/protocol';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { type GuardVerdict, RoomGuard } from './room-guard';
import { alice, bob, captureUpdates, craftUpdate, createRoom, itemIdOf, message, olivia, post, rita } from './test-kit';

const rule = (verdict: GuardVerdict) => (verdict.ok ? 'ok' : verdict.rule);
const uid = (s: string) => s as UserId;
const mid = (s: string) => s as MessageId;

describe('messages', () => {
  it('accepts a message appended at the end by its author and reports it', () => {
    const room = createRoom();
    const a = room.join();
    const m = post(a, alice, 'first');
    const verdict = room.send(a, alice);
    expect(verdict).toEqual({ ok: true, changes: expect.objectContaining({ created: [m] }) });
    expect(room.guard.authorOf(m.id)).toBe('alice');
  });

  it('refuses a message whose author is someone else', () => {
    const room = createRoom();
    const a = room.join();
    roomMaps(a).messages.push([message(bob)]);
    expect(rule(room.send(a, alice))).toBe('message_author');
    expect(roomMaps(room.server).messages.length).toBe(0);
  });

  it('refuses a message that breaks the v1 shape and accepts 4000 characters', () => {
    const room = createRoom();
    const empty = room.join();
    roomMaps(empty).messages.push([message(alice, '')]);
    expect(rule(room.send(empty, alice))).toBe('message_shape');

    const long = room.join();
    roomMaps(long).messages.push([message(alice, 'x'.repeat(4001))]);
    expect(rule(room.send(long, alice))).toBe('message_shape');

    const extra = room.join();
    roomMaps(extra).messages.push([{ ...message(alice), html: '<b>' } as never]);
    expect(rule(room.send(extra, alice))).toBe('message_shape');

    const max = room.join();
    roomMaps(max).messages.push([message(alice, 'x'.repeat(4000))]);
    expect(rule(room.send(max, alice))).toBe('ok');
  });

  it('refuses a message reusing the id of a message in the room', () => {
    const room = createRoom();
    const a = room.join();
    const m = post(a, alice);
    expect(rule(room.send(a, alice))).toBe('ok');
    const b = room.join();
    roomMaps(b).messages.push([{ ...message(bob), id: m.id }]);
    expect(rule(room.send(b, bob))).toBe('message_shape');
  });

  it('refuses a message inserted before the others and accepts the same message appended', () => {
    const room = createRoom();
    const a = room.join();
    post(a, alice, 'one');
    post(a, alice, 'two');
    expect(rule(room.send(a, alice))).toBe('ok');

    const b = room.join();
    roomMaps(b).messages.insert(0, [message(bob, 'I was first')]);
    expect(rule(room.send(b, bob))).toBe('message_not_appended');

    const middle = room.join();
    roomMaps(middle).messages.insert(1, [message(bob, 'squeezed in')]);
    expect(rule(room.send(middle, bob))).toBe('message_not_appended');

    const twin = room.join();
    post(twin, bob, 'appended');
    expect(rule(room.send(twin, bob))).toBe('ok');
  });

  it('accepts an insert at the end that lands before deleted messages', () => {
    const room = createRoom();
    const a = room.join();
    post(a, alice, 'kept');
    const gone = post(a, alice, 'gone');
    room.send(a, alice);
    deleteMessage(a, gone.id);
    expect(rule(room.send(a, alice))).toBe('ok');
    const b = room.join();
    const messages = roomMaps(b).messages;
    // insert(length) takes the last live message as left origin and the deleted one as right origin.
    messages.insert(messages.length, [message(bob, 'after kept')]);
    expect(rule(room.send(b, bob))).toBe('ok');
    expect(roomMaps(room.server).messages.length).toBe(2);
  });

  it('accepts an append from a device that was offline while more than 10,000 messages arrived', () => {
    const room = createRoom();
    const phone = room.join(50); // a low Yjs client id: Yjs still places its message after the later ones' origin
    const laptop = room.join(999_999);
    const seen = post(laptop, alice, 'the last message the phone saw');
    expect(rule(room.send(laptop, alice))).toBe('ok');
    room.pull(phone);
    const others = room.join(60);
    roomMaps(others).messages.push(Array.from({ length: 12_000 }, (_, i) => message(bob, `while you were away ${i}`)));
    expect(rule(room.send(others, bob))).toBe('ok');

    const late = post(phone, alice, 'back after months');
    post(laptop, alice, 'also back');
    const verdict = room.send(phone, alice);
    expect(verdict.ok && verdict.changes.created).toEqual([late]);
    expect(rule(room.send(laptop, alice))).toBe('ok');
    expect(roomMaps(room.server).messages.length).toBe(12_003);
    expect(readMessages(room.server)[0]?.id).toBe(seen.id);
  });

  it('refuses a message inserted before a live message however old its origin, and accepts it pushed', () => {
    const room = createRoom();
    const a = room.join();
    const first = post(a, alice, 'first');
    for (let i = 0; i < 20; i++) post(a, alice, `later ${i}`);
    expect(rule(room.send(a, alice))).toBe('ok');
    const origin = itemIdOf(room.server, first.id);
    const second = itemIdOf(room.server, roomMaps(room.server).messages.get(1).id);
    const before = craftUpdate(4000, 0, [{ origin, rightOrigin: second, values: [message(bob, 'between')] }]);
    expect(rule(room.guard.check(before, bob))).toBe('message_not_appended');
    const pushed = craftUpdate(4000, 0, [{ origin, values: [message(bob, 'between')] }]);
    expect(rule(room.guard.check(pushed, bob))).toBe('ok');
  });

  it('refuses a message inserted before the sender’s own unsent message, and accepts the batch pushed in order', () => {
    const room = createRoom();
    const a = room.join();
    a.transact(() => post(a, alice, 'one'));
    a.transact(() => post(a, alice, 'two'));
    roomMaps(a).messages.insert(1, [message(alice, 'squeezed between my own')]);
    expect(rule(room.send(a, alice))).toBe('message_not_appended');
    const twin = room.join();
    for (const text of ['one', 'two', 'three']) post(twin, alice, text);
    expect(rule(room.send(twin, alice))).toBe('ok');
  });

  it('refuses an origin inside a longer item of the sender’s own Yjs client, and accepts its end', () => {
    const room = createRoom();
    const a = room.join(7000);
    roomMaps(a).messages.push([message(alice, 'one'), message(alice, 'two'), message(alice, 'three')]);
    expect(rule(room.send(a, alice))).toBe('ok');
    const inside = craftUpdate(7000, 3, [{ origin: { client: 7000, clock: 0 }, values: [message(alice, 'rewrite')] }]);
    expect(rule(room.guard.check(inside, alice))).toBe('message_not_appended');
    const end = craftUpdate(7000, 3, [{ origin: { client: 7000, clock: 2 }, values: [message(alice, 'next')] }]);
    expect(rule(room.guard.check(end, alice))).toBe('ok');
  });

  it('accepts concurrent appends from two clients, whichever the server receives first', () => {
    const room = createRoom();
    const seed = room.join();
    const w = post(seed, olivia, 'welcome');
    room.send(seed, olivia);

    const a = room.join();
    const b = room.join();
    const ma = post(a, alice, 'from alice');
    const mb = post(b, bob, 'from bob');
    expect(rule(room.send(b, bob))).toBe('ok');
    // alice's append had "welcome" as its end; bob's message now sits there too.
    expect(rule(room.send(a, alice))).toBe('ok');
    const ids = roomMaps(room.server)
      .messages.toArray()
      .map((m) => m.id);
    expect(ids[0]).toBe(w.id);
    expect(new Set(ids)).toEqual(new Set([w.id, ma.id, mb.id]));
  });

  it('accepts an offline batch of several messages merged into one update', () => {
    const room = createRoom();
    const a = room.join();
    const b = room.join();
    const sent = [post(a, alice, 'one'), post(a, alice, 'two'), post(a, alice, 'three')];
    post(b, bob, 'meanwhile');
    expect(rule(room.send(b, bob))).toBe('ok');
    const verdict = room.send(a, alice);
    expect(verdict.ok && verdict.changes.created).toEqual(sent);
    expect(roomMaps(room.server).messages.length).toBe(4);
  });

  it('reports an offline batch from several app sessions in the order it was written', () => {
    const room = createRoom();
    const first = room.join(10);
    const earlier = post(first, alice, 'before the reload');
    const second = room.join(20); // the app reloaded: a new Yjs client id, same IndexedDB state
    Y.applyUpdate(second, Y.encodeStateAsUpdate(first));
    const later = post(second, alice, 'after the reload');
    const verdict = room.send(second, alice);
    expect(verdict.ok && verdict.changes.created.map((m) => m.id)).toEqual([earlier.id, later.id]);
  });

  it('accepts the updates a client emits one by one, as a provider sends them', () => {
    const room = createRoom();
    const a = room.join();
    const updates = captureUpdates(a);
    post(a, alice, 'one');
    post(a, alice, 'two');
    for (const update of updates) {
      expect(rule(room.guard.check(update, alice))).toBe('ok');
      Y.applyUpdate(room.server, update);
    }
    expect(roomMaps(room.server).messages.length).toBe(2);
  });

  it('accepts an update the server already has (a resend) as changing nothing', () => {
    const room = createRoom();
    const a = room.join();
    post(a, alice);
    const update = room.diff(a);
    expect(rule(room.send(a, alice))).toBe('ok');
    const again = room.guard.check(update, alice);
    expect(again).toEqual({ ok: true, changes: { created: [], edited: [], deleted: [], reads: [], reactions: [] } });
  });

  it('refuses an update that depends on changes the server does not have', () => {
    const room = createRoom();
    const a = room.join();
    const updates = captureUpdates(a);
    post(a, alice, 'never sent');
    post(a, alice, 'sent');
    expect(rule(room.guard.check(updates[1]!, alice))).toBe('missing_dependencies');
  });
});

describe('deletes', () => {
  function roomWithMessage() {
    const room = createRoom();
    const a = room.join();
    const m = post(a, alice, 'delete me');
    room.send(a, alice);
    return { room, m };
  }

  it('accepts a delete by the author, reports it and forgets the message', () => {
    const { room, m } = roomWithMessage();
    const a = room.join();
    deleteMessage(a, m.id);
    const verdict = room.send(a, alice);
    expect(verdict.ok && verdict.changes.deleted).toEqual([{ messageId: m.id, authorId: 'alice', deletedBy: 'alice' }]);
    expect(room.guard.authorOf(m.id)).toBeUndefined();
    expect(JSON.stringify(Y.encodeStateAsUpdate(room.server))).not.toContain('delete me');
  });

  it('accepts a delete by an owner', () => {
    const { room, m } = roomWithMessage();
    const o = room.join();
    deleteMessage(o, m.id);
    expect(rule(room.send(o, olivia))).toBe('ok');
  });

  it('refuses a delete by another member', () => {
    const { room, m } = roomWithMessage();
    const b = room.join();
    deleteMessage(b, m.id);
    expect(rule(room.send(b, bob))).toBe('message_delete_not_allowed');
    expect(roomMaps(room.server).messages.length).toBe(1);
  });

  it('refuses changing a message in place (delete and re-insert with the same id)', () => {
    const { room, m } = roomWithMessage();
    const a = room.join();
    a.transact(() => {
      deleteMessage(a, m.id);
      roomMaps(a).messages.push([{ ...m, text: 'rewritten' }]);
    });
    expect(rule(room.send(a, alice))).toBe('message_immutable');
  });

  it('accepts a message appended and deleted while offline', () => {
    const room = createRoom();
    const a = room.join();
    const m = post(a, alice, 'oops');
    deleteMessage(a, m.id);
    const kept = post(a, alice, 'kept');
    const verdict = room.send(a, alice);
    expect(verdict.ok && verdict.changes.created).toEqual([kept]);
    expect(room.guard.authorOf(m.id)).toBeUndefined();
  });
});

describe('edits', () => {
  function roomWith(author = alice) {
    const room = createRoom();
    const a = room.join();
    const m = post(a, author, 'original');
    room.send(a, author);
    return { room, m };
  }

  it('accepts an edit by the author of the message and reports it', () => {
    const { room, m } = roomWith();
    const a = room.join();
    editMessage(a, m.id, 'fixed', 1_790_000_100_000);
    const verdict = room.send(a, alice);
    expect(verdict.ok && verdict.changes.edited).toEqual([
      { messageId: m.id, authorId: 'alice', text: 'fixed', editedAt: 1_790_000_100_000 },
    ]);
  });

  it('refuses an edit by someone who is not the author', () => {
    const { room, m } = roomWith();
    const b = room.join();
    editMessage(b, m.id, 'put words in her mouth', 1_790_000_100_000);
    expect(rule(room.send(b, bob))).toBe('edit_not_author');
  });

  it('accepts an edit of a message id the room does not know as inert, and then refuses that id for a new message', () => {
    const room = createRoom();
    const b = room.join();
    editMessage(b, mid('future'), 'words for a message not yet written', 1_790_000_100_000);
    const verdict = room.send(b, bob);
    expect(verdict.ok && verdict.changes.edited).toEqual([]);
    const a = room.join();
    roomMaps(a).messages.push([{ ...message(alice, 'my message'), id: mid('future') }]);
    expect(rule(room.send(a, alice))).toBe('message_shape');
    const twin = room.join();
    roomMaps(twin).messages.push([{ ...message(alice, 'my message'), id: mid('fresh') }]);
    expect(rule(room.send(twin, alice))).toBe('ok');
    expect(readMessages(room.server).map((m) => m.text)).toEqual(['my message']);
  });

  it('refuses an edit whose value breaks the edit shape', () => {
    const { room, m } = roomWith();
    const a = room.join();
    roomMaps(a).edits.set(m.id, { text: 'x', editedAt: -1 });
    expect(rule(room.send(a, alice))).toBe('edit_shape');
  });

  it('accepts a transaction that appends a message and edits it', () => {
    const room = createRoom();
    const a = room.join();
    a.transact(() => {
      const m = post(a, alice, 'typo');
      editMessage(a, m.id, 'no typo', 1_790_000_100_000);
    });
    const verdict = room.send(a, alice);
    expect(verdict.ok && [verdict.changes.created.length, verdict.changes.edited.length]).toEqual([1, 1]);
  });

  it('accepts an owner deleting a message together with its edit, and refuses a member removing another’s edit', () => {
    const { room, m } = roomWith();
    const a = room.join();
    editMessage(a, m.id, 'edited', 1_790_000_100_000);
    expect(rule(room.send(a, alice))).toBe('ok');

    const b = room.join();
    roomMaps(b).edits.delete(m.id);
    expect(rule(room.send(b, bob))).toBe('edit_not_author');

    const o = room.join();
    deleteMessage(o, m.id);
    expect(rule(room.send(o, olivia))).toBe('ok');
  });

  it('treats an edit written and removed before sending as a removal of the current edit', () => {
    const { room, m } = roomWith();
    const a = room.join();
    editMessage(a, m.id, 'edited', 1_790_000_100_000);
    expect(rule(room.send(a, alice))).toBe('ok');
    const removal = (client: number) =>
      craftUpdate(client, 0, [{ parent: 'edits', key: m.id, values: [], deleted: 1 }]);
    expect(rule(room.guard.check(removal(901), bob))).toBe('edit_not_author');
    expect(rule(room.guard.check(removal(902), alice))).toBe('ok');
  });

  it('accepts an offline edit of a message an owner deleted meanwhile, and keeps it out of readers’ views', () => {
    const { room, m } = roomWith();
    const offline = room.join();
    const owner = room.join();
    deleteMessage(owner, m.id);
    expect(rule(room.send(owner, olivia))).toBe('ok');
    expect(room.guard.deletedAuthorOf(m.id)).toBe('alice');
    editMessage(offline, m.id, 'edited on the train', 1_790_000_100_000);
    post(offline, alice, 'and a new message');
    const verdict = room.send(offline, alice);
    expect(verdict.ok && [verdict.changes.edited, verdict.changes.created.length]).toEqual([[], 1]);
    expect(roomMaps(room.server).edits.get(m.id)?.text).toBe('edited on the train');
    expect(readMessages(room.server).map((v) => v.text)).toEqual(['and a new message']);
    const reader = room.join();
    expect(readMessages(reader).map((v) => v.text)).toEqual(['and a new message']);
  });

  it('refuses an edit of a deleted message by someone other than its author', () => {
    const { room, m } = roomWith();
    const b = room.join();
    const a = room.join();
    deleteMessage(a, m.id);
    expect(rule(room.send(a, alice))).toBe('ok');
    editMessage(b, m.id, 'words in her mouth', 1_790_000_100_000);
    expect(rule(room.send(b, bob))).toBe('edit_not_author');
  });

  it('refuses re-inserting the id of a message deleted in an earlier update', () => {
    const { room, m } = roomWith();
    const a = room.join();
    deleteMessage(a, m.id);
    expect(rule(room.send(a, alice))).toBe('ok');
    roomMaps(a).messages.push([{ ...m, text: 'rewritten' }]);
    expect(rule(room.send(a, alice))).toBe('message_immutable');
  });

  it('accepts after a reload an offline edit of a message deleted and collected before the load', () => {
    const { room, m } = roomWith();
    const offline = room.join();
    const a = room.join();
    deleteMessage(a, m.id);
    expect(rule(room.send(a, alice))).toBe('ok');
    // The room unloads and loads again: the content of the deleted message, its author included, is gone.
    const reloaded = new Y.Doc();
    Y.applyUpdate(reloaded, Y.encodeStateAsUpdate(room.server));
    const guard = new RoomGuard(reloaded);
    expect(guard.deletedAuthorOf(m.id)).toBeUndefined();
    editMessage(offline, m.id, 'too late', 1_790_000_100_000);
    const update = Y.encodeStateAsUpdate(offline, Y.encodeStateVector(reloaded));
    expect(rule(guard.check(update, alice))).toBe('ok');
    Y.applyUpdate(reloaded, update);
    expect(readMessages(reloaded)).toEqual([]);
    // The inert edit keeps its id from ever being used by a new message.
    const b = new Y.Doc();
    Y.applyUpdate(b, Y.encodeStateAsUpdate(reloaded));
    roomMaps(b).messages.push([{ ...message(bob, 'mine now'), id: m.id }]);
    expect(rule(guard.check(Y.encodeStateAsUpdate(b, Y.encodeStateVector(reloaded)), bob))).toBe('message_shape');
  });

  it('refuses after a reload a new message taking the id of one deleted before, as the server stored it', () => {
    const { room, m } = roomWith();
    const a = room.join();
    setReaction(a, m.id, alice.userId as never, '🎉', true, 1_790_000_050_000);
    deleteMessage(a, m.id);
    expect(rule(room.send(a, alice))).toBe('ok');
    const reloaded = new Y.Doc();
    Y.applyUpdate(reloaded, Y.encodeStateAsUpdate(room.server));
    const reuse = () => {
      const b = new Y.Doc();
      Y.applyUpdate(b, Y.encodeStateAsUpdate(reloaded));
      // Bob's new message would wear the old one's reaction.
      roomMaps(b).messages.push([{ ...message(bob, 'mine now'), id: m.id }]);
      return Y.encodeStateAsUpdate(b, Y.encodeStateVector(reloaded));
    };
    // The document alone no longer knows the id: a guard given nothing more lets it through.
    expect(rule(new RoomGuard(reloaded).check(reuse(), bob))).toBe('ok');
    // Given the ids the sync server stored with each deletion, it refuses it, built at once or in steps.
    expect(rule(new RoomGuard(reloaded, {}, true, [m.id]).check(reuse(), bob))).toBe('message_immutable');
    const { guard, steps } = RoomGuard.stepwise(reloaded, {}, 2000, [m.id]);
    for (const _ of steps);
    expect(rule(guard.check(reuse(), bob))).toBe('message_immutable');
  });

  it('keeps refusing the id of a deleted message after its author is forgotten (maxTombstones)', () => {
    const server = new Y.Doc();
    const guard = new RoomGuard(server, { maxTombstones: 1 });
    const a = new Y.Doc();
    const first = post(a, alice, 'first');
    const second = post(a, alice, 'second');
    Y.applyUpdate(server, Y.encodeStateAsUpdate(a));
    deleteMessage(a, first.id);
    deleteMessage(a, second.id);
    Y.applyUpdate(server, Y.encodeStateAsUpdate(a, Y.encodeStateVector(server)));
    expect(guard.deletedAuthorOf(first.id)).toBeUndefined();
    const b = new Y.Doc();
    Y.applyUpdate(b, Y.encodeStateAsUpdate(server));
    roomMaps(b).messages.push([{ ...message(bob, 'taking it'), id: first.id }]);
    expect(rule(guard.check(Y.encodeStateAsUpdate(b, Y.encodeStateVector(server)), bob))).toBe('message_immutable');
  });

  it('remembers at most maxTombstones deleted authors, forgetting the oldest first', () => {
    const server = new Y.Doc();
    const guard = new RoomGuard(server, { maxTombstones: 2 });
    const c = new Y.Doc();
    const ms = [post(c, alice), post(c, alice), post(c, alice)];
    Y.applyUpdate(server, Y.encodeStateAsUpdate(c));
    for (const m of ms) deleteMessage(c, m.id);
    Y.applyUpdate(server, Y.encodeStateAsUpdate(c, Y.encodeStateVector(server)));
    expect(ms.map((m) => guard.deletedAuthorOf(m.id))).toEqual([undefined, 'alice', 'alice']);
    const b = new Y.Doc();
    Y.applyUpdate(b, Y.encodeStateAsUpdate(server));
    editMessage(b, ms[1]!.id, 'not hers to edit', 1_790_000_100_000);
    expect(rule(guard.check(Y.encodeStateAsUpdate(b, Y.encodeStateVector(server)), bob))).toBe('edit_not_author');
  });

  it('reports an edit in the same update as its message even when the edit comes first in the update', () => {
    const room = createRoom();
    const first = room.join(10);
    const m = post(first, alice, 'typo');
    const second = room.join(20); // a later app session: a higher Yjs client id, encoded before the first
    Y.applyUpdate(second, Y.encodeStateAsUpdate(first));
    editMessage(second, m.id, 'no typo', 1_790_000_100_000);
    const verdict = room.send(second, alice);
    expect(verdict.ok && verdict.changes.edited).toEqual([
      { messageId: m.id, authorId: 'alice', text: 'no typo', editedAt: 1_790_000_100_000 },
    ]);
  });
});

describe('reactions', () => {
  it('accepts a reaction in the sender’s own name and its removal', () => {
    const room = createRoom();
    const a = room.join();
    setReaction(a, mid('m1'), uid('alice'), '👍', true, 1_790_000_000_000);
    let verdict = room.send(a, alice);
    expect(verdict.ok && verdict.changes.reactions).toEqual([{ key: 'm1|alice|👍', on: true }]);
    setReaction(a, mid('m1'), uid('alice'), '👍', false, 1_790_000_000_001);
    verdict = room.send(a, alice);
    expect(verdict.ok && verdict.changes.reactions).toEqual([{ key: 'm1|alice|👍', on: false }]);
  });

  it('refuses a reaction in someone else’s name', () => {
    const room = createRoom();
    const a = room.join();
    setReaction(a, mid('m1'), uid('bob'), '👍', true, 1_790_000_000_000);
    expect(rule(room.send(a, alice))).toBe('reaction_not_own');
  });

  it('refuses removing someone else’s reaction', () => {
    const room = createRoom();
    const b = room.join();
    setReaction(b, mid('m1'), uid('bob'), '👍', true, 1_790_000_000_000);
    expect(rule(room.send(b, bob))).toBe('ok');
    const a = room.join();
    roomMaps(a).reactions.delete(reactionKey('m1', 'bob', '👍'));
    expect(rule(room.send(a, alice))).toBe('reaction_not_own');
  });

  it('refuses a reaction whose key or value breaks the shape', () => {
    const room = createRoom();
    const a = room.join();
    roomMaps(a).reactions.set('m1|alice', 1);
    expect(rule(room.send(a, alice))).toBe('reaction_shape');
    const b = room.join();
    roomMaps(b).reactions.set(reactionKey('m1', 'bob', '🎉'), 'soon' as never);
    expect(rule(room.send(b, bob))).toBe('reaction_shape');
  });

  it('accepts a reaction by its own user on a message deleted meanwhile, and refuses one in another’s name', () => {
    const room = createRoom();
    const a = room.join();
    const m = post(a, alice);
    expect(rule(room.send(a, alice))).toBe('ok');
    const b = room.join();
    deleteMessage(a, m.id);
    expect(rule(room.send(a, alice))).toBe('ok');
    setReaction(b, m.id, uid('bob'), '👍', true, 1_790_000_000_000);
    expect(rule(room.send(b, bob))).toBe('ok');
    const c = room.join();
    setReaction(c, m.id, uid('alice'), '🎉', true, 1_790_000_000_000);
    expect(rule(room.send(c, bob))).toBe('reaction_not_own');
  });
});

describe('read markers', () => {
  it('accepts the sender’s own read marker and reports it', () => {
    const room = createRoom();
    const a = room.join();
    markRead(a, uid('alice'), mid('m9'), 1_790_000_000_000);
    const verdict = room.send(a, alice);
    expect(verdict.ok && verdict.changes.reads).toEqual([{ userId: 'alice', messageId: 'm9', at: 1_790_000_000_000 }]);
  });

  it('refuses a read marker for someone else', () => {
    const room = createRoom();
    const a = room.join();
    markRead(a, uid('bob'), mid('m9'), 1_790_000_000_000);
    expect(rule(room.send(a, alice))).toBe('read_not_own');
  });

  it('refuses a read marker that breaks the shape', () => {
    const room = createRoom();
    const a = room.join();
    roomMaps(a).reads.set('alice', { messageId: 'm9' } as never);
    expect(rule(room.send(a, alice))).toBe('read_shape');
  });

  it('accepts taking away one’s own read marker ("Mark unread" on the first message), not someone else’s', () => {
    const room = createRoom();
    const a = room.join();
    markRead(a, uid('alice'), mid('m9'), 1_790_000_000_000);
    expect(rule(room.send(a, alice))).toBe('ok');
    const b = room.join();
    roomMaps(b).reads.delete('alice');
    expect(rule(room.send(b, bob))).toBe('read_not_own');
    roomMaps(a).reads.delete('alice');
    const verdict = room.send(a, alice);
    expect(verdict).toEqual({ ok: true, changes: { created: [], edited: [], deleted: [], reads: [], reactions: [] } });
  });

  it('accepts a read marker pointing at a message deleted meanwhile', () => {
    const room = createRoom();
    const a = room.join();
    const m = post(a, alice);
    expect(rule(room.send(a, alice))).toBe('ok');
    const b = room.join();
    deleteMessage(a, m.id);
    expect(rule(room.send(a, alice))).toBe('ok');
    markRead(b, uid('bob'), m.id, 1_790_000_000_000);
    const verdict = room.send(b, bob);
    expect(verdict.ok && verdict.changes.reads).toEqual([{ userId: 'bob', messageId: m.id, at: 1_790_000_000_000 }]);
  });
});

describe('a server restored from an older snapshot', () => {
  it('refuses a client resending another user’s messages until their author resends them', () => {
    const room = createRoom();
    const a = room.join();
    const b = room.join();
    post(a, alice, 'before the backup');
    expect(rule(room.send(a, alice))).toBe('ok');
    room.pull(b);
    const backup = Y.encodeStateAsUpdate(room.server);
    post(b, bob, 'after the backup');
    expect(rule(room.send(b, bob))).toBe('ok');
    room.pull(a);
    post(a, alice, 'after the restore');

    // The operator restores the backup: the server lacks bob's message, which alice's device holds.
    const restored = new Y.Doc();
    Y.applyUpdate(restored, backup);
    const guard = new RoomGuard(restored);
    const diff = (doc: Y.Doc) => Y.encodeStateAsUpdate(doc, Y.encodeStateVector(restored));
    expect(rule(guard.check(diff(a), alice))).toBe('message_author');
    // Bob's device sends its own message back, and then alice's device has nothing foreign left to send.
    const fromBob = diff(b);
    expect(rule(guard.check(fromBob, bob))).toBe('ok');
    Y.applyUpdate(restored, fromBob);
    expect(rule(guard.check(diff(a), alice))).toBe('ok');
  });

  it('refuses every device that holds newer messages of others, so two such devices wait for each other forever', () => {
    const room = createRoom();
    const a = room.join();
    const b = room.join();
    const backup = Y.encodeStateAsUpdate(room.server);
    post(a, alice, 'after the backup, from alice');
    expect(rule(room.send(a, alice))).toBe('ok');
    post(b, bob, 'after the backup, from bob');
    expect(rule(room.send(b, bob))).toBe('ok');
    room.pull(a);
    room.pull(b);

    const restored = new Y.Doc();
    Y.applyUpdate(restored, backup);
    const guard = new RoomGuard(restored);
    const diff = (doc: Y.Doc) => Y.encodeStateAsUpdate(doc, Y.encodeStateVector(restored));
    expect(rule(guard.check(diff(a), alice))).toBe('message_author');
    expect(rule(guard.check(diff(b), bob))).toBe('message_author');
    // Restoring the newest state instead (what the operator should do) lets both through.
    const newest = new Y.Doc();
    Y.applyUpdate(newest, Y.encodeStateAsUpdate(room.server));
    const fresh = new RoomGuard(newest);
    expect(rule(fresh.check(Y.encodeStateAsUpdate(a, Y.encodeStateVector(newest)), alice))).toBe('ok');
    expect(rule(fresh.check(Y.encodeStateAsUpdate(b, Y.encodeStateVector(newest)), bob))).toBe('ok');
  });
});

describe('roles and schema', () => {
  it('refuses any write from a reader and accepts a reader’s empty sync', () => {
    const room = createRoom();
    const r = room.join();
    expect(rule(room.send(r, rita))).toBe('ok');
    markRead(r, uid('rita'), mid('m1'), 1_790_000_000_000);
    expect(rule(room.send(r, rita))).toBe('read_only');
  });

  it('refuses a reader deleting a message, even their own from before', () => {
    const room = createRoom();
    const a = room.join();
    const m = post(a, alice);
    room.send(a, alice);
    const r = room.join();
    deleteMessage(r, m.id);
    expect(rule(room.send(r, { userId: 'alice', role: 'reader' }))).toBe('read_only');
  });

  it('refuses a top-level key outside the schema', () => {
    const room = createRoom();
    const a = room.join();
    a.getText('notes').insert(0, 'hi');
    expect(rule(room.send(a, alice))).toBe('unknown_key');
  });

  it('refuses a nested type inside messages', () => {
    const room = createRoom();
    const a = room.join();
    roomMaps(a).messages.push([new Y.Map() as never]);
    expect(rule(room.send(a, alice))).toBe('wrong_type');
  });

  it('refuses a map entry written under messages and a list element under a map', () => {
    const room = createRoom();
    const evil = new Y.Doc();
    evil.getMap('messages').set('x', 1);
    expect(rule(room.guard.check(Y.encodeStateAsUpdate(evil), alice))).toBe('wrong_type');
    const evil2 = new Y.Doc();
    evil2.getArray('edits').push([1]);
    expect(rule(room.guard.check(Y.encodeStateAsUpdate(evil2), alice))).toBe('wrong_type');
  });

  it('refuses a string written into a map', () => {
    const room = createRoom();
    const crafted = craftUpdate(5, 0, [{ parent: 'reads', key: 'alice', values: [{ messageId: 'm1', at: 1 }] }]);
    expect(rule(room.guard.check(crafted, alice))).toBe('ok');
    const evil = new Y.Doc();
    evil.getMap('reads').set('alice', new Y.Text('hi'));
    expect(rule(room.guard.check(Y.encodeStateAsUpdate(evil), alice))).toBe('wrong_type');
  });

  it('never changes the document while checking', () => {
    const room = createRoom();
    const a = room.join();
    post(a, alice);
    room.send(a, alice);
    const before = Y.encodeStateAsUpdate(room.server);
    const b = room.join();
    post(b, bob);
    deleteMessage(b, roomMaps(b).messages.get(0).id);
    room.guard.check(room.diff(b), bob);
    const c = room.join();
    post(c, alice);
    room.guard.check(room.diff(c), alice);
    expect(Y.encodeStateAsUpdate(room.server)).toEqual(before);
  });

  it('keeps its index current for updates applied from elsewhere (another instance)', () => {
    const room = createRoom();
    const other = room.join();
    const m = post(other, bob);
    Y.applyUpdate(room.server, room.diff(other)); // as the Redis extension would
    expect(room.guard.authorOf(m.id)).toBe('bob');
    const a = room.join();
    editMessage(a, m.id, 'hijack', 1);
    expect(rule(room.send(a, alice))).toBe('edit_not_author');
  });

  it('builds its index from a loaded document and stops tracking after destroy', () => {
    const source = new Y.Doc();
    const m = post(source, alice);
    const loaded = new Y.Doc();
    Y.applyUpdate(loaded, Y.encodeStateAsUpdate(source));
    const guard = new RoomGuard(loaded);
    expect(guard.authorOf(m.id)).toBe('alice');
    guard.destroy();
    post(loaded, bob);
    expect(guard.indexedMessages).toBe(0);
  });
});

describe("a catch-up holding other users' unstored changes (ownPart)", () => {
  /** Alice's change reaches Bob's document (relayed from memory) but never the server's. */
  function relayedButLost(room: ReturnType<typeof createRoom>, change: (a: Y.Doc) => void) {
    const a = room.join();
    const b = room.join();
    change(a);
    Y.applyUpdate(b, room.diff(a));
    return { a, b };
  }

  it('leaves out the structs of a client the server knows as another user’s, and keeps the sender’s own', () => {
    const room = createRoom();
    const a = room.join();
    post(a, alice, 'stored');
    room.send(a, alice);
    const b = room.join();
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
    post(a, alice, 'lost');
    Y.applyUpdate(b, room.diff(a));
    setReaction(b, mid(readMessages(b)[0]!.id), uid('bob'), '👍', true, 1);
    const catchUp = room.diff(b);
    expect(rule(room.guard.check(catchUp, bob))).toBe('client_id_taken');
    const own = room.guard.ownPart(catchUp, bob);
    expect(own).not.toBe(catchUp);
    const verdict = room.guard.check(own, bob);
    expect(verdict).toEqual({
      ok: true,
      changes: expect.objectContaining({ reactions: [expect.objectContaining({ on: true })] }),
    });
    Y.applyUpdate(room.server, own);
    expect(readMessages(room.server).map((m) => m.text)).toEqual(['stored']);
    // The author's own catch-up is hers to send, whole.
    const hers = room.diff(a);
    expect(room.guard.ownPart(hers, alice)).toBe(hers);
    expect(rule(room.guard.check(hers, alice))).toBe('ok');
  });

  it('takes a client the server has never seen for the sender’s, as check does: a forged change of one is refused', () => {
    const room = createRoom();
    const seed = room.join();
    const first = post(seed, alice, 'first');
    room.send(seed, alice);
    for (const change of [
      (a: Y.Doc) => post(a, alice, 'from a new session'),
      (a: Y.Doc) => markRead(a, uid('alice'), mid(first.id), 1),
      (a: Y.Doc) => setReaction(a, mid(first.id), uid('alice'), '🎉', true, 1),
    ]) {
      const { b } = relayedButLost(room, change);
      const catchUp = room.diff(b);
      expect(room.guard.ownPart(catchUp, bob)).toBe(catchUp);
      expect(rule(room.guard.check(catchUp, bob))).not.toBe('ok');
    }
  });

  it('leaves out deletions of another user’s items the sender may not make, such as the read marker a new one replaced', () => {
    const room = createRoom();
    const a = room.join();
    const first = post(a, alice, 'first');
    const second = post(a, alice, 'second');
    markRead(a, uid('alice'), mid(first.id), 1);
    room.send(a, alice);
    const b = room.join();
    // Alice moves her marker (the new value deletes the old one); Bob gets it, the server never does.
    markRead(a, uid('alice'), mid(second.id), 2);
    Y.applyUpdate(b, room.diff(a));
    const catchUp = room.diff(b);
    expect(rule(room.guard.check(catchUp, bob))).not.toBe('ok');
    const own = room.guard.ownPart(catchUp, bob);
    expect(room.guard.check(own, bob)).toEqual({ ok: true, changes: expect.anything() });
    Y.applyUpdate(room.server, own);
    expect(roomMaps(room.server).reads.get('alice')).toEqual({ messageId: first.id, at: 1 });
    // Her own catch-up brings both halves.
    expect(rule(room.guard.check(room.diff(a), alice))).toBe('ok');
  });

  it('gives up trimming, keeping the update whole for check to judge, when the deletions outrun the step budget', () => {
    const server = new Y.Doc();
    const guard = new RoomGuard(server, { maxSteps: 1 });
    const a = new Y.Doc();
    for (let n = 0; n < 10; n++) post(a, alice, `m${n}`);
    Y.applyUpdate(server, Y.encodeStateAsUpdate(a));
    const b = new Y.Doc();
    Y.applyUpdate(b, Y.encodeStateAsUpdate(server));
    for (const m of readMessages(b)) deleteMessage(b, mid(m.id));
    const catchUp = Y.encodeStateAsUpdate(b, Y.encodeStateVector(server));
    expect(guard.ownPart(catchUp, bob)).toBe(catchUp);
    expect(rule(guard.check(catchUp, bob))).toBe('decode_budget');
  });

  it('keeps an owner’s deletion of someone’s message in the catch-up: the owner may make it', () => {
    const room = createRoom();
    const a = room.join();
    const m = post(a, alice, 'to be removed');
    room.send(a, alice);
    const o = room.join();
    deleteMessage(o, mid(m.id));
    const catchUp = room.diff(o);
    expect(room.guard.ownPart(catchUp, olivia)).toBe(catchUp);
    expect(room.guard.check(catchUp, olivia)).toEqual({
      ok: true,
      changes: expect.objectContaining({
        deleted: [expect.objectContaining({ messageId: m.id, deletedBy: 'olivia' })],
      }),
    });
  });

  it('keeps an update of the sender’s own, and one it cannot decode, as they are (check judges them)', () => {
    const room = createRoom();
    const b = room.join();
    post(b, bob, 'mine');
    const mine = room.diff(b);
    expect(room.guard.ownPart(mine, bob)).toBe(mine);
    const garbage = new Uint8Array([1, 2, 3, 250, 255]);
    expect(room.guard.ownPart(garbage, bob)).toBe(garbage);
    // A message in someone else's name from the sender's own, known client is refused, not trimmed away.
    room.send(b, bob);
    roomMaps(b).messages.push([message(alice, 'forged')]);
    const forged = room.diff(b);
    expect(room.guard.ownPart(forged, bob)).toBe(forged);
    expect(rule(room.guard.check(forged, bob))).toBe('message_author');
  });
});
