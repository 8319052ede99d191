import { needService, uniqueSuffix, waitFor } from '@confab/platform/testing';
import { appendMessage, newMessageId, type UserId } from '@confab/protocol';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { openTestDatabase, startTestServer, type TestServer, messageTexts as texts } from './testing/harness';

const pg = await needService('postgres');

describe.skipIf(!pg)('sync server on PostgreSQL', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ database: await openTestDatabase('postgres'), guard: undefined });
  });
  afterAll(async () => {
    await t?.stop();
    await t?.db.close();
  });

  it('clients converge and every acknowledged update is in the log before the ack', async () => {
    const name = `room:r${uniqueSuffix()}`;
    const a = await t.connect({ name, user: 'alice' });
    const b = await t.connect({ name, user: 'bob' });
    appendMessage(a.doc, { id: newMessageId(), author: 'alice' as UserId, text: 'pg one', createdAt: 1 });
    appendMessage(b.doc, { id: newMessageId(), author: 'bob' as UserId, text: 'pg two', createdAt: 2 });
    await Promise.all([a.acknowledged(), b.acknowledged()]);
    const stored = await t.server.store.load(name);
    const doc = new Y.Doc();
    for (const u of stored.updates) Y.applyUpdate(doc, u);
    expect(texts(doc).sort()).toEqual(['pg one', 'pg two']);
    await waitFor(() => texts(a.doc).length === 2 && texts(b.doc).length === 2);
    expect(texts(a.doc)).toEqual(texts(b.doc));
    a.destroy();
    b.destroy();
  });

  it('relays updates to the room before their commit, handles the next ones meanwhile, and acknowledges each only after its commit', async () => {
    const name = `room:r${uniqueSuffix()}`;
    const a = await t.connect({ name, user: 'alice' });
    const b = await t.connect({ name, user: 'bob' });
    // Another session holds the log table, as a slow disk or a busy database would: appends wait.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holder = t.db.database.db.transaction().execute(async (trx) => {
      await sql`lock table sync_updates in exclusive mode`.execute(trx);
      locked();
      await gate;
    });
    await isLocked;
    try {
      appendMessage(a.doc, { id: newMessageId(), author: 'alice' as UserId, text: 'before the commit', createdAt: 1 });
      await waitFor(() => texts(b.doc).includes('before the commit'), { message: 'bob saw it from memory' });
      // The first one is still committing; Alice's next messages on the same connection are not held up by it.
      for (const text of ['second', 'third']) {
        appendMessage(a.doc, { id: newMessageId(), author: 'alice' as UserId, text, createdAt: 2 });
      }
      await waitFor(() => texts(b.doc).includes('third'), { message: 'bob saw the later ones too' });
      expect(a.provider.unsyncedChanges).toBe(3);
      expect((await t.server.store.load(name)).updates).toHaveLength(0);
    } finally {
      release();
      await holder;
    }
    await a.acknowledged();
    const stored = await t.server.store.load(name);
    const doc = new Y.Doc();
    for (const u of stored.updates) Y.applyUpdate(doc, u);
    expect(texts(doc)).toEqual(['before the commit', 'second', 'third']);
    a.destroy();
    b.destroy();
  });

  it('a room reloaded after compaction and further appends is whole', async () => {
    const name = `room:r${uniqueSuffix()}`;
    const a = await t.connect({ name, user: 'alice' });
    for (let i = 0; i < 5; i++) {
      appendMessage(a.doc, { id: newMessageId(), author: 'alice' as UserId, text: `m${i}`, createdAt: i });
    }
    await a.acknowledged();
    await t.server.compact(name);
    appendMessage(a.doc, { id: newMessageId(), author: 'alice' as UserId, text: 'after', createdAt: 9 });
    await a.acknowledged();
    a.destroy();
    await waitFor(() => !t.server.hocuspocus.documents.has(name));
    const b = await t.connect({ name, user: 'bob' });
    expect(texts(b.doc)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'after']);
    b.destroy();
  });
});
