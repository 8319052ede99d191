import { uniqueSuffix, waitFor } from '@confab/platform/testing';
import { appendMessage, CLOSE, newMessageId, type UserId } from '@confab/protocol';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import {
  startTestServer,
  storedMessageTexts,
  type TestClient,
  type TestServer,
  messageTexts as texts,
} from '../testing/harness';
import { KyselySyncStore } from './sync-store';

/**
 * The server side of a failed group-commit transaction: the callers it rejects
 * are never acknowledged; their clients are closed with try_again_later and
 * send their changes again once the database takes writes again.
 */
describe('a failed append transaction on a running server (SQLite)', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t.stop();
    await t.db.close();
  });

  it('acknowledges none of the updates of a failed transaction, and stores them once the database recovers', async () => {
    const rooms = ['room:gc-fail-a', 'room:gc-fail-b', 'room:gc-fail-c'];
    const clients = await Promise.all(rooms.map((name, i) => t.connect({ name, user: `u${i}` })));
    const store = new KyselySyncStore({ database: t.db.database });
    // Every insert into the log fails, as a full disk or a broken database would make it.
    await sql`create trigger gc_fail before insert on sync_updates begin select raise(abort, 'simulated write failure'); end`.execute(
      t.db.database.db,
    );
    clients.forEach((c, i) => {
      c.doc.getArray('messages').push([{ text: `written while the database fails ${i}` }]);
    });
    await waitFor(() => clients.every((c) => c.closes.some((e) => e.code === CLOSE.tryAgainLater.code)), {
      message: 'every client closed with try_again_later',
    });
    for (const [i, c] of clients.entries()) {
      expect(c.provider.hasUnsyncedChanges).toBe(true);
      expect((await store.load(rooms[i]!)).updates).toHaveLength(0);
    }

    await sql`drop trigger gc_fail`.execute(t.db.database.db);
    // The providers reconnect by themselves and send what was never acknowledged.
    await Promise.all(clients.map((c) => c.acknowledged()));
    for (const [i, c] of clients.entries()) {
      expect((await store.load(rooms[i]!)).updates.length).toBeGreaterThan(0);
      expect(c.doc.getArray('messages').toJSON()).toEqual([{ text: `written while the database fails ${i}` }]);
    }
  });

  it('closes everyone in a room whose update failed to store; the update is stored once after they come back', async () => {
    const name = 'room:gc-fail-shared';
    const [a, b] = await Promise.all([t.connect({ name, user: 'alice' }), t.connect({ name, user: 'bob' })]);
    const store = new KyselySyncStore({ database: t.db.database });
    await sql`create trigger gc_fail_shared before insert on sync_updates begin select raise(abort, 'simulated write failure'); end`.execute(
      t.db.database.db,
    );
    a!.doc.getArray('messages').push([{ text: 'relayed, then the write failed' }]);
    // Bob may already hold it (relayed from memory); both are closed so the room unloads.
    await waitFor(() => [a!, b!].every((c) => c.closes.some((e) => e.code === CLOSE.tryAgainLater.code)), {
      message: 'both clients closed with try_again_later',
    });
    expect(a!.provider.hasUnsyncedChanges).toBe(true);
    expect((await store.load(name)).updates).toHaveLength(0);
    await waitFor(() => !t.server.hocuspocus.documents.has(name), { message: 'the room unloaded' });

    await sql`drop trigger gc_fail_shared`.execute(t.db.database.db);
    await a!.acknowledged();
    const expected = [{ text: 'relayed, then the write failed' }];
    await waitFor(() => JSON.stringify(b!.doc.getArray('messages').toJSON()) === JSON.stringify(expected), {
      message: 'bob converged',
    });
    const reloaded = new Y.Doc();
    for (const u of (await store.load(name)).updates) Y.applyUpdate(reloaded, u);
    expect(reloaded.getArray('messages').toJSON()).toEqual(expected);
    expect(a!.doc.getArray('messages').toJSON()).toEqual(expected);
  });
});

/**
 * The same failure with the room guard: a member may hold the lost message (relayed from memory before
 * the write failed) and come back before its author. Their sync then offers the server another user's
 * message, which they may not write; it is not theirs to resend, and it must not stop their room.
 */
describe('a failed append in a guarded room (SQLite)', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer({ guard: undefined });
  });
  afterAll(async () => {
    await t.stop();
    await t.db.close();
  });

  /**
   * Alice writes (`write`) while the log refuses every insert: Bob gets it from memory, both are closed
   * with try_again_later. Then Alice stays away, the log takes writes again, and Bob comes back first.
   * Resolves with Alice's socket, to bring her back.
   */
  async function lostWhileBobComesBackFirst(alice: TestClient, bob: TestClient, write: () => void) {
    const before = texts(bob.doc).length;
    await sql`create trigger gc_fail_guarded before insert on sync_updates begin select raise(abort, 'simulated write failure'); end`.execute(
      t.db.database.db,
    );
    write();
    await waitFor(() => texts(bob.doc).length === before + 1, { message: 'bob got the message from memory' });
    await waitFor(() => [alice, bob].every((c) => c.closes.some((e) => e.code === CLOSE.tryAgainLater.code)), {
      message: 'both closed with try_again_later',
    });
    const aliceSocket = alice.provider.configuration.websocketProvider;
    aliceSocket.disconnect();
    await sql`drop trigger gc_fail_guarded`.execute(t.db.database.db);
    await waitFor(() => bob.provider.isSynced, { message: 'bob synced again' });
    return aliceSocket;
  }

  it('takes back a member who holds the lost message before its author resends it, and stores it once, from the author', async () => {
    const name = `room:gc-guarded-${uniqueSuffix()}`;
    const alice = await t.connect({ name, user: 'alice' });
    const bob = await t.connect({ name, user: 'bob' });
    const write = (client: TestClient, author: string, text: string) =>
      appendMessage(client.doc, { id: newMessageId(), author: author as UserId, text, createdAt: Date.now() });
    write(alice, 'alice', 'stored before the failure');
    await alice.acknowledged();
    await waitFor(() => texts(bob.doc).length === 1, { message: 'bob has the first message' });

    // Alice stays away; Bob comes back first, holding her unstored message.
    const aliceSocket = await lostWhileBobComesBackFirst(alice, bob, () =>
      write(alice, 'alice', 'relayed, then the write failed'),
    );
    // His reply builds on her message, which the server lacks: it waits, unacknowledged, for her.
    write(bob, 'bob', 'bob writes on');
    await waitFor(
      async () =>
        (await t.registry.getSingleMetricAsString('confab_sync_updates_total')).includes('rule="others_changes"} 1'),
      { message: 'the reply waits for the author' },
    );

    expect(bob.provider.hasUnsyncedChanges).toBe(true);
    expect(await storedMessageTexts(t, name)).toEqual(['stored before the failure']);

    // Alice comes back: her message is stored from her own resend, then Bob's reply, now acknowledged.
    await aliceSocket.connect();
    await alice.acknowledged();
    await bob.acknowledged();
    const all = ['stored before the failure', 'relayed, then the write failed', 'bob writes on'];
    await waitFor(() => texts(alice.doc).length === 3 && texts(bob.doc).length === 3, { message: 'both converged' });
    expect(bob.closes.map((c) => c.reason)).toEqual(['try_again_later']);
    expect(alice.closes.map((c) => c.reason)).toEqual(['try_again_later']);
    expect(await storedMessageTexts(t, name)).toEqual(all);
    alice.destroy();
    bob.destroy();
  });

  it('knows whose a client was when the only update it ever sent is the one lost: the member coming back first is taken back', async () => {
    const name = `room:gc-first-${uniqueSuffix()}`;
    const alice = await t.connect({ name, user: 'alice' });
    const bob = await t.connect({ name, user: 'bob' });
    // Alice's client has never written: the reloaded room cannot tell whose it is, only the failed append can.
    const aliceSocket = await lostWhileBobComesBackFirst(alice, bob, () =>
      appendMessage(alice.doc, {
        id: newMessageId(),
        author: 'alice' as UserId,
        text: 'first words, lost',
        createdAt: 1,
      }),
    );
    await aliceSocket.connect();
    await alice.acknowledged();
    expect(await storedMessageTexts(t, name)).toEqual(['first words, lost']);
    expect(bob.closes.map((c) => c.reason)).toEqual(['try_again_later']);
    alice.destroy();
    bob.destroy();
  });
});
