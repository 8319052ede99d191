import { markRead, roomMaps, type UserId } from '@confab/protocol';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { decodeUpdateBounded } from './decode';
import { checkUserDocumentUpdate, type GuardVerdict, RoomGuard } from './room-guard';
import {
  alice,
  Bytes,
  bob,
  craftUpdate,
  createRoom,
  halfApplicableUpdate,
  itemIdOf,
  message,
  objectWithKeys,
  olivia,
  post,
  prng,
} from './test-kit';

const rule = (verdict: GuardVerdict) => (verdict.ok ? 'ok' : verdict.rule);
/**
 * "Returns quickly": warmed up, each of these answers in microseconds to a few
 * milliseconds; what they guard against runs for seconds or forever. The
 * margin is wide because the test machine is shared and the code is cold.
 */
const STALL_MS = 1000;
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

/** Runs a check and returns its rule and how long it took. */
function timed(guard: RoomGuard, update: Uint8Array) {
  const start = performance.now();
  const verdict = guard.check(update, alice);
  return { rule: rule(verdict), ms: performance.now() - start };
}

/** One client section header followed by `body`, then an empty delete set. */
function oneStruct(body: (w: Bytes) => void, structs = 1): Uint8Array {
  const w = new Bytes().varUint(1).varUint(structs).varUint(42).varUint(0);
  body(w);
  return w.varUint(0).bytes();
}

describe('hostile bytes', () => {
  it('refuses the crafted buffers of yjs issue 687 quickly', () => {
    const { guard } = createRoom();
    for (const bytes of [
      '00010000000001000100010200001602000001fdffffffff7f0000',
      '000002a50100000104060374686901020101000001010000',
      '01ffffffffffffffff7f2a0000',
    ]) {
      const result = timed(guard, hex(bytes));
      expect(result.rule).not.toBe('ok');
      expect(result.ms).toBeLessThan(STALL_MS);
    }
  });

  it('refuses a struct count larger than the bytes could hold before allocating', () => {
    const { guard } = createRoom();
    const update = new Bytes()
      .varUint(1)
      .varUint(2 ** 40)
      .varUint(1)
      .varUint(0)
      .u8(0)
      .bytes();
    const result = timed(guard, update);
    expect(result).toMatchObject({ rule: 'malformed_update' });
    expect(result.ms).toBeLessThan(STALL_MS);
  });

  it('refuses a value nested deeper than the limit without recursing through it', () => {
    const { guard } = createRoom();
    const depth = 200_000;
    const update = oneStruct((w) => {
      w.u8(8).varUint(1).string('messages').varUint(1);
      for (let i = 0; i < depth; i++) w.u8(117).varUint(1);
      w.u8(126);
    });
    const result = timed(guard, update);
    expect(result.rule).toBe('decode_budget');
    expect(result.ms).toBeLessThan(STALL_MS);
  });

  it('refuses garbage-collected ranges and delete ranges spanning absurd clock lengths', () => {
    const { guard } = createRoom();
    const gc = oneStruct((w) => w.u8(0).varUint(2 ** 45));
    expect(timed(guard, gc).rule).toBe('decode_budget');
    const deleted = oneStruct((w) =>
      w
        .u8(1)
        .varUint(1)
        .string('messages')
        .varUint(2 ** 45),
    );
    expect(timed(guard, deleted).rule).toBe('decode_budget');
    const ds = new Bytes()
      .varUint(0)
      .varUint(1)
      .varUint(42)
      .varUint(1)
      .varUint(0)
      .varUint(2 ** 45)
      .bytes();
    expect(timed(guard, ds).rule).toBe('decode_budget');
  });

  it('refuses more structs than the limit', () => {
    const guard = new RoomGuard(new Y.Doc(), {
      decodeLimits: { maxStructs: 100, maxDeleteRanges: 100, maxClockSpan: 1000, maxAnyDepth: 8, maxKeyBytes: 64 },
    });
    const update = oneStruct((w) => {
      for (let i = 0; i < 101; i++) w.u8(0).varUint(1);
    }, 101);
    expect(rule(guard.check(update, alice))).toBe('decode_budget');
  });

  it('refuses truncated updates, trailing bytes, bad UTF-8 and unknown content', () => {
    const room = createRoom();
    const a = room.join();
    post(a, alice);
    const good = room.diff(a);
    expect(rule(room.guard.check(good, alice))).toBe('ok');
    for (let cut = 1; cut < good.length; cut++) {
      expect(rule(room.guard.check(good.subarray(0, cut), alice))).toBe('malformed_update');
    }
    expect(rule(room.guard.check(Uint8Array.from([...good, 0]), alice))).toBe('malformed_update');
    const badUtf8 = oneStruct((w) => w.u8(8).varUint(1).varUint(2).u8(0xc3).u8(0x28).varUint(1).u8(126));
    expect(rule(room.guard.check(badUtf8, alice))).toBe('malformed_update');
    const unknownContent = oneStruct((w) => w.u8(11).varUint(1).string('messages'));
    expect(rule(room.guard.check(unknownContent, alice))).toBe('malformed_update');
  });

  it('never throws and answers quickly for random bytes', () => {
    const room = createRoom();
    const a = room.join();
    for (let i = 0; i < 50; i++) post(a, alice);
    room.send(a, alice);
    const random = prng(687);
    let slowest = 0;
    for (let i = 0; i < 2000; i++) {
      const bytes = Uint8Array.from({ length: 1 + Math.floor(random() * 64) }, () => Math.floor(random() * 256));
      const start = performance.now();
      const verdict = room.guard.check(bytes, alice);
      slowest = Math.max(slowest, performance.now() - start);
      expect(typeof verdict.ok).toBe('boolean');
    }
    expect(slowest).toBeLessThan(STALL_MS);
  });

  it('refuses an update over the size limit before decoding it', () => {
    const guard = new RoomGuard(new Y.Doc(), { maxUpdateBytes: 1024 });
    expect(rule(guard.check(new Uint8Array(1025), alice))).toBe('too_large');
  });

  it('keeps __proto__ as a plain key that the message shape refuses', () => {
    const { guard } = createRoom();
    const update = craftUpdate(9, 0, [{ values: [message(alice)] }]);
    const bytes = objectWithKeys([
      ['__proto__', { admin: true }],
      ['id', 'x'],
    ]);
    expect(rule(guard.check(update, alice))).toBe('ok');
    expect(rule(guard.check(bytes, alice))).toBe('message_shape');
    const decoded = decodeUpdateBounded(bytes);
    const struct = decoded.ok ? decoded.update.structs[0] : undefined;
    const parsed = struct?.kind === 'item' && struct.content.kind === 'any' ? (struct.content.values[0] as object) : {};
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });

  it('reads a leading byte-order mark as part of a key, as Yjs does, so a second author key is refused', () => {
    const { guard, join } = createRoom();
    const doc = join(9);
    const updates: Uint8Array[] = [];
    doc.on('update', (update: Uint8Array) => updates.push(update));
    // An ordinary client, no crafted bytes: to Yjs and every reader the author is bob.
    doc.getArray('messages').push([{ ...message(alice), author: 'bob', '\uFEFFauthor': 'alice' }]);
    expect(rule(guard.check(updates[0]!, alice))).toBe('message_shape');
    // A root of that name is a fifth top-level type, not `messages`.
    const { guard: second, join: joinSecond } = createRoom();
    const root = joinSecond(10);
    root.getArray('\uFEFFmessages').push([message(alice)]);
    expect(rule(second.check(Y.encodeStateAsUpdate(root), alice))).toBe('unknown_key');
    // The same character inside a text is just text.
    const { guard: third, join: joinThird } = createRoom();
    const text = joinThird(11);
    text.getArray('messages').push([message(alice, '\uFEFFhello')]);
    expect(rule(third.check(Y.encodeStateAsUpdate(text), alice))).toBe('ok');
  });

  it('refuses a struct the server partly has when it would continue somewhere other than where it began', () => {
    const { server, guard, join, send } = createRoom();
    const b = join(2000);
    const m = post(b, bob, 'hello');
    markRead(b, 'bob' as UserId, m.id, 111);
    expect(rule(send(b, bob))).toBe('ok');
    const a = join(3000);
    markRead(a, 'alice' as UserId, m.id, 222);
    expect(rule(send(a, alice))).toBe('ok');
    const bobsMarker = (server.getMap('reads') as unknown as { _map: Map<string, Y.Item> })._map.get('bob')!.id;
    // 3000:0 is alice's marker; Yjs would take the parent and key of 3000:1 from the origin written here,
    // bob's marker, and overwrite it, while the guard saw a continuation of alice's own.
    const forged = craftUpdate(3000, 0, [
      {
        origin: bobsMarker,
        values: [
          { messageId: m.id, at: 222 },
          { messageId: 'FORGED', at: 999 },
        ],
      },
    ]);
    expect(guard.check(forged, alice)).toMatchObject({ ok: false, rule: 'malformed_update' });
    // Its honest twin: a resend overlapping what the server has, begun where the server has it.
    const { server: server2, guard: guard2, join: join2, send: send2 } = createRoom();
    const b2 = join2(2000);
    const first = post(b2, bob, 'hello');
    expect(rule(send2(b2, bob))).toBe('ok');
    const a2 = join2(3000);
    const mine = post(a2, alice, 'mine');
    expect(rule(send2(a2, alice))).toBe('ok');
    const next = message(alice, 'and more');
    const resend = craftUpdate(3000, 0, [{ origin: itemIdOf(server2, first.id), values: [mine, next] }]);
    expect(rule(guard2.check(resend, alice))).toBe('ok');
    Y.applyUpdate(server2, resend);
    expect(server2.getArray('messages').toJSON()).toEqual([first, mine, next]);
  });

  it('refuses an origin at a later clock of the struct’s own client, on which Yjs throws halfway through the apply', () => {
    const { server, guard, join, send } = createRoom();
    const b = join(2000);
    const m = post(b, bob, 'hello');
    expect(rule(send(b, bob))).toBe('ok');
    const first = itemIdOf(server, m.id);
    const msg = (id: string) => ({ ...message(alice), id });
    const update = halfApplicableUpdate(first, [msg('fine'), msg('forward'), msg('later')]);
    expect(guard.check(update, alice)).toMatchObject({ ok: false, rule: 'malformed_update' });
    // What the guard spares the server: Yjs integrates client 5000's section, then throws.
    const copy = new Y.Doc();
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(server));
    expect(() => Y.applyUpdate(copy, update)).toThrow();
    expect(copy.getArray('messages').length).toBe(2);
  });

  it('refuses an object whose key repeats (Yjs would keep the last)', () => {
    const { guard } = createRoom();
    const bytes = objectWithKeys([
      ['author', 'alice'],
      ['author', 'bob'],
    ]);
    expect(rule(guard.check(bytes, alice))).toBe('malformed_update');
  });

  it('refuses a delete set that touches more structs than the step budget', () => {
    const server = new Y.Doc();
    const guard = new RoomGuard(server, { maxSteps: 10 });
    const ids: string[] = [];
    const c = new Y.Doc();
    c.clientID = 100;
    for (let i = 0; i < 20; i++) {
      ids.push(post(c, alice).id);
      Y.applyUpdate(server, Y.encodeStateAsUpdate(c, Y.encodeStateVector(server)));
    }
    const update = craftUpdate(1, 0, [], [{ client: 100, clock: 0, length: 20 }]);
    expect(rule(guard.check(update, olivia))).toBe('decode_budget');
    const one = craftUpdate(
      1,
      0,
      [],
      [itemIdOf(server, ids[0]!)].map((id) => ({ ...id, length: 1 })),
    );
    expect(rule(guard.check(one, olivia))).toBe('ok');
  });

  it('refuses quickly an update whose many appends each point far from the end', () => {
    const server = new Y.Doc();
    const guard = new RoomGuard(server);
    const messages = roomMaps(server).messages;
    for (let i = 0; i < 3000; i++) {
      server.clientID = 100 + (i % 20);
      messages.insert(messages.length, [message(alice)]);
    }
    const origin = itemIdOf(server, messages.get(0).id);
    const items = Array.from({ length: 2000 }, () => ({ origin, values: [message(alice)] }));
    const start = performance.now();
    expect(rule(guard.check(craftUpdate(555, 0, items), alice))).toBe('decode_budget');
    expect(performance.now() - start).toBeLessThan(STALL_MS);
  });

  it('refuses an update whose appends compete for one place by the thousand, which Yjs would take seconds to order', () => {
    const room = createRoom();
    const a = room.join();
    post(a, alice);
    room.send(a, alice);
    const last = itemIdOf(room.server, roomMaps(room.server).messages.get(0).id);
    // One struct per Yjs client, all right after the last message: each would walk past all the others.
    const siblings = (count: number) => {
      const w = new Bytes().varUint(count);
      for (let i = 0; i < count; i++) {
        w.varUint(1)
          .varUint(5_000_000 + i)
          .varUint(0);
        w.u8(1 | 0x80)
          .varUint(last.client)
          .varUint(last.clock)
          .varUint(1); // deleted content, origin = last
      }
      return w.varUint(0).bytes();
    };
    const hostile = timed(room.guard, siblings(20_000));
    expect(hostile.rule).toBe('decode_budget');
    expect(hostile.ms).toBeLessThan(STALL_MS);
    const twin = siblings(4);
    expect(rule(room.guard.check(twin, alice))).toBe('ok');
    Y.applyUpdate(room.server, twin);
  });

  it('accepts four appends far from the end in one update and refuses a fifth', () => {
    const server = new Y.Doc();
    const guard = new RoomGuard(server);
    const messages = roomMaps(server).messages;
    for (let i = 0; i < 500; i++) {
      server.clientID = 100 + (i % 20);
      messages.insert(messages.length, [message(alice)]);
    }
    const ids = messages.toArray().map((m) => itemIdOf(server, m.id));
    const farAppends = (count: number) => {
      const w = new Bytes().varUint(count);
      for (let i = 0; i < count; i++) {
        w.varUint(1)
          .varUint(9_000 + i)
          .varUint(0);
        w.u8(8 | 0x80)
          .varUint(ids[i * 10]!.client)
          .varUint(ids[i * 10]!.clock)
          .varUint(1)
          .any(message(alice));
      }
      return w.varUint(0).bytes();
    };
    expect(rule(guard.check(farAppends(5), alice))).toBe('decode_budget');
    expect(rule(guard.check(farAppends(4), alice))).toBe('ok');
  });

  it('refuses an update whose map entries compete for one key by the dozen, and accepts two tabs’ first marks', () => {
    const { guard } = createRoom();
    const firstMarks = (count: number) => {
      const w = new Bytes().varUint(count);
      for (let i = 0; i < count; i++) {
        w.varUint(1)
          .varUint(6_000 + i)
          .varUint(0);
        w.u8(8 | 0x20)
          .varUint(1)
          .string('reads')
          .string('alice')
          .varUint(1)
          .any({ messageId: 'm1', at: i });
      }
      return w.varUint(0).bytes();
    };
    expect(rule(guard.check(firstMarks(66), alice))).toBe('decode_budget');
    expect(rule(guard.check(firstMarks(2), alice))).toBe('ok');
  });

  it('refuses a second map entry that would make Yjs walk a long key history, and accepts the first', () => {
    const server = new Y.Doc();
    const guard = new RoomGuard(server, { maxSteps: 5_000 });
    // alice's read marker gets a history of 3,000 items: written from 3,000 Yjs clients one after the other.
    for (let i = 0; i < 3_000; i++) {
      const current = roomMaps(server).reads._map.get('alice');
      const w = new Bytes()
        .varUint(1)
        .varUint(1)
        .varUint(10_000 + i)
        .varUint(0);
      if (current)
        w.u8(8 | 0x80)
          .varUint(current.id.client)
          .varUint(current.id.clock);
      else
        w.u8(8 | 0x20)
          .varUint(1)
          .string('reads')
          .string('alice');
      Y.applyUpdate(server, w.varUint(1).any({ messageId: 'm1', at: i }).varUint(0).bytes());
    }
    // Each entry below is a first write of the key from a new device (origin none): Yjs walks the whole history.
    const firstWrites = (key: string, count: number) => {
      const w = new Bytes().varUint(count);
      for (let i = 0; i < count; i++) {
        w.varUint(1)
          .varUint(50_000 + i)
          .varUint(0);
        w.u8(8 | 0x20)
          .varUint(1)
          .string('reactions')
          .string(key)
          .varUint(1)
          .any(i);
      }
      return w.varUint(0).bytes();
    };
    const readWrites = (count: number) => {
      const w = new Bytes().varUint(count);
      for (let i = 0; i < count; i++) {
        w.varUint(1)
          .varUint(60_000 + i)
          .varUint(0);
        w.u8(8 | 0x20)
          .varUint(1)
          .string('reads')
          .string('alice')
          .varUint(1)
          .any({ messageId: 'm2', at: i });
      }
      return w.varUint(0).bytes();
    };
    expect(rule(guard.check(readWrites(2), alice))).toBe('decode_budget');
    expect(rule(guard.check(readWrites(1), alice))).toBe('ok');
    // The same after a reload: the history lengths are counted when the guard is built.
    const reloaded = new Y.Doc();
    Y.applyUpdate(reloaded, Y.encodeStateAsUpdate(server));
    expect(rule(new RoomGuard(reloaded, { maxSteps: 5_000 }).check(readWrites(2), alice))).toBe('decode_budget');
    expect(rule(guard.check(firstWrites('m1|alice|👍', 2), alice))).toBe('ok');
  });
});

describe('user documents', () => {
  it('accepts any well-formed update to a user document, nested types included', () => {
    const drafts = new Y.Doc();
    drafts.getMap('drafts').set('room1', new Y.Text('half a thought'));
    expect(rule(checkUserDocumentUpdate(Y.encodeStateAsUpdate(drafts), alice))).toBe('ok');
  });

  it('refuses malformed, oversized or over-budget updates to a user document', () => {
    expect(rule(checkUserDocumentUpdate(hex('01ffffffffffffffff7f2a0000'), alice))).toBe('malformed_update');
    expect(rule(checkUserDocumentUpdate(new Uint8Array(2 * 1024 * 1024), alice))).toBe('too_large');
    const gc = oneStruct((w) => w.u8(0).varUint(2 ** 45));
    expect(rule(checkUserDocumentUpdate(gc, alice))).toBe('decode_budget');
  });
});
