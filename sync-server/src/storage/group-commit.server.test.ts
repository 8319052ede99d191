import { waitFor } from '@confab/platform/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRY_AGAIN_LATER } from '../extensions/context';
import { startTestServer, type TestServer } from '../testing/harness';
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
    await waitFor(() => clients.every((c) => c.closes.some((e) => e.code === TRY_AGAIN_LATER.code)), {
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
});
