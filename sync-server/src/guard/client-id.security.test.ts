import { deleteMessage, readMessages, setReaction, type UserId } from '@confab/protocol';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { RoomGuard } from './room-guard';
import { alice, bob, craftUpdate, createRoom, itemIdOf, message, post } from './test-kit';

/**
 * Yjs identifies content by (client id, clock). A member who writes under
 * another member's client id, at that member's next clock, makes Yjs drop the
 * victim's next write as a duplicate. See docs/security.md.
 */
describe('Yjs client ids belong to the user who first wrote with them', () => {
  it("refuses a valid message of one's own written under another member's client id and next clock", () => {
    const room = createRoom();
    const bobDoc = room.join(4242);
    const first = post(bobDoc, bob, 'bob 1');
    expect(room.send(bobDoc, bob).ok).toBe(true);
    const forged = craftUpdate(4242, Y.getState(room.server.store, 4242), [
      { origin: itemIdOf(room.server, first.id), values: [message(alice, 'alice under bob’s client id')] },
    ]);
    const verdict = room.guard.check(forged, alice);
    expect(verdict.ok ? 'ok' : verdict.rule).toBe('client_id_taken');
    // Bob's next message (written offline, same client id and clock) is therefore not lost.
    const second = post(bobDoc, bob, 'bob 2');
    const v = room.send(bobDoc, bob);
    expect(v.ok && v.changes.created.map((m) => m.text)).toEqual(['bob 2']);
    expect(readMessages(room.server).map((m) => m.text)).toEqual(['bob 1', 'bob 2']);
    deleteMessage(bobDoc, second.id);
    expect(room.send(bobDoc, bob).ok).toBe(true);
  });

  it("refuses a reaction of one's own under the client id of someone who only ever reacted", () => {
    const room = createRoom();
    const a = room.join(1000);
    const m = post(a, alice, 'hi');
    expect(room.send(a, alice).ok).toBe(true);
    const b = room.join(4243);
    setReaction(b, m.id, 'bob' as UserId, '👍', true, 1);
    expect(room.send(b, bob).ok).toBe(true);
    const forged = craftUpdate(4243, Y.getState(room.server.store, 4243), [
      { parent: 'reactions', key: `${m.id}|alice|👎`, values: [2] },
    ]);
    const verdict = room.guard.check(forged, alice);
    expect(verdict.ok ? 'ok' : verdict.rule).toBe('client_id_taken');
  });

  it('knows the owners of the client ids of a loaded room, and accepts their own next writes', () => {
    const room = createRoom();
    const bobDoc = room.join(4244);
    const first = post(bobDoc, bob, 'bob 1');
    expect(room.send(bobDoc, bob).ok).toBe(true);
    const reloaded = new Y.Doc();
    Y.applyUpdate(reloaded, Y.encodeStateAsUpdate(room.server));
    const guard = new RoomGuard(reloaded);
    const forged = craftUpdate(4244, 1, [{ origin: itemIdOf(reloaded, first.id), values: [message(alice, 'forged')] }]);
    const verdict = guard.check(forged, alice);
    expect(verdict.ok ? 'ok' : verdict.rule).toBe('client_id_taken');
    post(bobDoc, bob, 'bob 2');
    expect(guard.check(Y.encodeStateAsUpdate(bobDoc, Y.encodeStateVector(reloaded)), bob).ok).toBe(true);
  });
});
