import { waitFor } from '@confab/platform/testing';
import { appendMessage, editMessage } from '@confab/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { createConfabGuard } from './extensions/confab-guard';
import { runSliced } from './extensions/time-slice';
import { RoomGuard } from './guard';
import { alice, bob, message, olivia } from './guard/test-kit';
import { startTestServer, type TestServer } from './testing/harness';

/** A room of `count` messages by alice and bob (alternating clients, as in a real room), with some edits and reads. */
function busyRoom(count: number): Y.Doc {
  const doc = new Y.Doc();
  for (let i = 0; i < count; i++) {
    doc.clientID = 100 + (i % 2);
    const m = appendMessage(doc, message(i % 2 ? bob : alice, `m${i}`));
    if (i % 10 === 0) editMessage(doc, m.id, `m${i} edited`, 1_790_000_000_000 + i);
    doc.getMap('reads').set(m.author, { messageId: m.id, at: i });
  }
  return doc;
}

describe('sliced work', () => {
  it('runs a job that fits in one slice within the current turn', async () => {
    let turns = 0;
    const ticker = setImmediate(() => turns++);
    let steps = 0;
    await runSliced(
      (function* () {
        for (let i = 0; i < 100; i++) {
          steps++;
          yield;
        }
      })(),
      10,
      () => 0,
    );
    expect(steps).toBe(100);
    expect(turns).toBe(0);
    clearImmediate(ticker);
  });

  it('gives the event loop a turn whenever a slice is used up', async () => {
    let nowMs = 0;
    let turns = 0;
    const tick = () => {
      turns++;
    };
    const seenTurns: number[] = [];
    await runSliced(
      (function* () {
        for (let i = 0; i < 10; i++) {
          setImmediate(tick);
          nowMs += 4; // each step "takes" 4 ms
          seenTurns.push(turns);
          yield;
        }
      })(),
      10,
      () => nowMs,
    );
    // A 10 ms slice holds 3 steps of 4 ms; after each slice the queued immediates ran.
    expect(seenTurns).toEqual([0, 0, 0, 3, 3, 3, 6, 6, 6, 9]);
  });
});

describe('the update guard built in steps', () => {
  it('indexes the same authors and key histories as one build, in several steps', () => {
    const doc = busyRoom(500);
    const whole = new RoomGuard(doc);
    const { guard, steps } = RoomGuard.stepwise(doc, {}, 50);
    let count = 0;
    for (const _ of steps) count++;
    expect(count).toBeGreaterThan(5);
    expect(guard.indexedMessages).toBe(500);
    expect(guard.indexedMessages).toBe(whole.indexedMessages);
    const ids = doc
      .getArray<{ id: string; author: string }>('messages')
      .toArray()
      .map((m) => m.id);
    for (const id of ids) expect(guard.authorOf(id)).toBe(whole.authorOf(id));
    // It judges like the one-piece build: bob may not delete alice's message, olivia (owner) may.
    const client = new Y.Doc();
    Y.applyUpdate(client, Y.encodeStateAsUpdate(doc));
    const sv = Y.encodeStateVector(doc);
    client.getArray('messages').delete(0, 1);
    const deletion = Y.encodeStateAsUpdate(client, sv);
    expect(guard.check(deletion, bob)).toMatchObject({ ok: false });
    expect(whole.check(deletion, bob)).toMatchObject({ ok: false });
    expect(guard.check(deletion, olivia)).toMatchObject({ ok: true });
    guard.destroy();
    whole.destroy();
  });

  it('is prepared by the confab guard only for rooms', () => {
    const guard = createConfabGuard();
    const doc = busyRoom(20);
    expect([...(guard.prepare?.(doc, { kind: 'user', userId: 'alice' } as never) ?? [])]).toEqual([]);
    // A room: the steps run to the end and the prepared guard serves the first check.
    const steps = guard.prepare?.(doc, { kind: 'room', roomId: 'r1' } as never) ?? [];
    for (const _ of steps);
    const client = new Y.Doc();
    Y.applyUpdate(client, Y.encodeStateAsUpdate(doc));
    const sv = Y.encodeStateVector(doc);
    client.getArray('messages').delete(1, 1); // bob's message
    const verdict = guard.check(doc, { kind: 'room', roomId: 'r1' } as never, Y.encodeStateAsUpdate(client, sv), alice);
    expect(verdict).toMatchObject({ ok: false });
  });
});

describe('loading a large room in the server (real providers, real guard)', () => {
  let t: TestServer;
  const prepared: unknown[] = [];
  beforeAll(async () => {
    const guard = createConfabGuard();
    t = await startTestServer({
      guard: {
        ...guard,
        prepare: (doc, document) => {
          prepared.push(document);
          return guard.prepare?.(doc, document) ?? [];
        },
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
    // Its database file too (a temporary directory, removed on close).
    await t?.db.close();
  });

  it('prepares the guard while loading a room from a snapshot and a long log, and the guard enforces the rules', async () => {
    const name = 'room:large1';
    const doc = busyRoom(3000);
    // A snapshot plus a log of 1,000 rows, written as the server would have.
    const snapshotPart = Y.encodeStateAsUpdate(doc);
    await t.server.store.append(name, snapshotPart, []);
    await t.server.compact(name);
    const more = new Y.Doc();
    Y.applyUpdate(more, snapshotPart);
    const rows: Uint8Array[] = [];
    more.on('update', (u: Uint8Array) => rows.push(u));
    for (let i = 0; i < 1000; i++) {
      more.clientID = 100 + (i % 2);
      appendMessage(more, message(i % 2 ? bob : alice, `late ${i}`));
    }
    for (const row of rows) await t.server.store.append(name, row, []);

    const bobClient = await t.connect({ name, user: 'bob' });
    expect(bobClient.doc.getArray('messages').length).toBe(4000);
    expect(prepared).toEqual([{ kind: 'room', roomId: 'large1' }]);
    // The prepared guard knows every author, including those from the log: bob may not delete alice's first message.
    bobClient.doc.getArray('messages').delete(0, 1);
    await waitFor(() => bobClient.closes.some((c) => c.code === 4422));
    const stored = await t.server.store.load(name);
    const check = new Y.Doc();
    if (stored.snapshot) Y.applyUpdate(check, stored.snapshot);
    for (const u of stored.updates) Y.applyUpdate(check, u);
    expect(check.getArray('messages').length).toBe(4000);
  });
});
