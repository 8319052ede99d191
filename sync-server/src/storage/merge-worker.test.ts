import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CHECKPOINT_EVERY_COMMITS, type Database, migrate, openDatabase } from '@confab/platform';
import { waitFor } from '@confab/platform/testing';
import { appendMessage, deleteMessage, type MessageId, readMessages, type UserId } from '@confab/protocol';
import type { Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { MergeWorker, mergeInline } from './merge-worker';
import { MIGRATION_TABLE, type SyncTables, syncMigrations } from './schema';
import { KyselySyncStore } from './sync-store';

/** A room written one message per update, as clients send them: its first `split` updates merged as the snapshot. */
function room(messages: number, split: number) {
  const doc = new Y.Doc();
  const updates: Uint8Array[] = [];
  doc.on('update', (update: Uint8Array) => updates.push(update));
  for (let i = 0; i < messages; i++) {
    appendMessage(doc, {
      id: `m${i}` as MessageId,
      author: 'alice' as UserId,
      text: `message number ${i}`,
      createdAt: i,
    });
  }
  return { doc, snapshot: Y.mergeUpdates(updates.slice(0, split)), log: updates.slice(split), updates };
}

const textsOf = (state: Uint8Array) => {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, state);
  return readMessages(doc).map((m) => m.text);
};

describe('MergeWorker', () => {
  const workers: MergeWorker[] = [];
  const worker = () => {
    const w = new MergeWorker();
    workers.push(w);
    return w;
  };
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
  });

  it('folds a snapshot and the log after it into the state the same merge on this thread gives', async () => {
    const { snapshot, log, doc } = room(200, 120);
    const merged = await worker().merge(snapshot, log);
    expect(textsOf(merged)).toEqual(readMessages(doc).map((m) => m.text));
    expect(merged).toEqual(await mergeInline(snapshot, log));
  });

  it('merges a log with no snapshot yet', async () => {
    const { updates, doc } = room(30, 0);
    expect(textsOf(await worker().merge(null, updates))).toEqual(readMessages(doc).map((m) => m.text));
  });

  it("drops a deleted message's text, as compaction must", async () => {
    const { doc, updates } = room(5, 0);
    doc.on('update', (update: Uint8Array) => updates.push(update));
    deleteMessage(doc, 'm2' as MessageId);
    const merged = await worker().merge(null, updates);
    expect(textsOf(merged)).toEqual(['message number 0', 'message number 1', 'message number 3', 'message number 4']);
    expect(Buffer.from(merged).includes('message number 2')).toBe(false);
  });

  it("leaves the caller's buffers usable, rows that are slices of one larger buffer included", async () => {
    const { updates, doc } = room(20, 0);
    // Pooled Buffers share one ArrayBuffer: the worker must get copies, not the pool.
    const pool = Buffer.concat(updates);
    let offset = 0;
    const rows = updates.map((u) => {
      const row = pool.subarray(offset, offset + u.byteLength);
      offset += u.byteLength;
      return row;
    });
    const merged = await worker().merge(null, rows);
    expect(textsOf(merged)).toEqual(readMessages(doc).map((m) => m.text));
    expect(pool.byteLength).toBe(offset);
    expect(Buffer.concat(rows)).toEqual(pool);
  });

  it('fails a merge of bytes that are not an update with a clear error, and merges the next one', async () => {
    const w = worker();
    const { updates } = room(3, 0);
    await expect(w.merge(null, [new Uint8Array([255, 255, 255, 255, 255])])).rejects.toThrow(/merge worker: /);
    expect(textsOf(await w.merge(null, updates))).toHaveLength(3);
  });

  it('answers merges in flight together, each with its own room', async () => {
    const w = worker();
    const a = room(50, 10);
    const b = room(70, 0);
    const [ma, mb] = await Promise.all([w.merge(a.snapshot, a.log), w.merge(null, b.updates)]);
    expect(textsOf(ma)).toHaveLength(50);
    expect(textsOf(mb)).toHaveLength(70);
  });

  it('ends its thread once no merge came for a while, and starts a new one for the next merge', async () => {
    const w = new MergeWorker({ idleMs: 100 });
    workers.push(w);
    expect(w.threadRunning).toBe(false);
    const a = room(30, 10);
    expect(textsOf(await w.merge(a.snapshot, a.log))).toHaveLength(30);
    expect(w.threadRunning).toBe(true);
    await waitFor(() => !w.threadRunning, { message: 'the idle thread to end', timeoutMs: 5000, intervalMs: 0 });
    // Right away, while the old thread is still exiting: its exit must not fail the new thread's merge.
    const b = room(40, 0);
    expect(textsOf(await w.merge(null, b.updates))).toHaveLength(40);
    expect(w.threadRunning).toBe(true);
  });

  it('folds a long run of one client’s messages within a bounded heap, on either thread', async () => {
    // One client, 20,000 messages in a row (a bot, a user's offline backlog): in one Yjs transaction the fold
    // needed 2.7 GB of heap (quadratic); ROWS_PER_TRANSACTION at a time, a few MB.
    const { updates } = room(20_000, 0);
    const w = new MergeWorker({ maxHeapMb: 128 });
    workers.push(w);
    const texts = textsOf(await w.merge(null, updates));
    expect(texts).toHaveLength(20_000);
    expect(texts.at(-1)).toBe('message number 19999');
    expect(textsOf(await mergeInline(null, updates))).toEqual(texts);
  });

  it('refuses merges once closed', async () => {
    const w = worker();
    await w.close();
    await expect(w.merge(null, [])).rejects.toThrow(/closed/);
  });
});

describe('MergeWorker on an SQLite file', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A migrated database file and a merge thread that writes to it. */
  async function setUp(idleMs?: number) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-merge-worker-'));
    const database = openDatabase<unknown>({ dataDir: dir });
    await migrate(database.db, MIGRATION_TABLE, syncMigrations(database.kind));
    const location = database.sqlite?.location as string;
    const w = new MergeWorker({ sqliteLocation: location, ...(idleMs ? { idleMs } : {}) });
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await w.close();
      await database.close();
    };
    cleanups.push(async () => {
      await close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const db = database.db as unknown as Kysely<SyncTables>;
    return { database, db, w, location, close };
  }

  /** Appends `n` one-message updates to `name`, each committed before the next. */
  async function appendMessages(database: Database<unknown>, name: string, n: number) {
    const store = new KyselySyncStore({ database, minCommitIntervalMs: 0 });
    const { updates } = room(n, 0);
    for (const update of updates) await store.append(name, update);
  }

  const checkpointMark = async (db: Kysely<SyncTables>) =>
    (await db.selectFrom('sync_checkpoints').select('at').executeTakeFirst())?.at;

  it('checkpoints the WAL into the file, then starts the WAL over with a write of its own', async () => {
    const { database, db, w, location } = await setUp();
    await appendMessages(database, 'room:a', 200);
    const before = fs.statSync(location).size;
    expect(await checkpointMark(db)).toBeUndefined();
    await w.checkpoint();
    // The rows' pages were copied into the database file, and the thread wrote the row that restarts the WAL.
    expect(fs.statSync(location).size).toBeGreaterThan(before);
    expect(Number(await checkpointMark(db))).toBeGreaterThan(0);
  });

  it('takes the checkpoints the event loop hands it, every CHECKPOINT_EVERY_COMMITS commits', async () => {
    const { database, db, w } = await setUp();
    const takeBack = database.sqlite?.delegateCheckpoints(() => w.checkpoint());
    cleanups.push(async () => takeBack?.());
    await appendMessages(database, 'room:b', CHECKPOINT_EVERY_COMMITS - 1);
    expect(w.threadRunning).toBe(false);
    await appendMessages(database, 'room:b', 1);
    expect(w.threadRunning).toBe(true);
    await waitFor(async () => (await checkpointMark(db)) !== undefined, { message: 'the checkpoint' });
  });

  it('closes its connection when it retires: the last connection then leaves no WAL behind', async () => {
    const { database, w, location, close } = await setUp(100);
    await appendMessages(database, 'room:c', 20);
    await w.checkpoint();
    await waitFor(() => !w.threadRunning, { message: 'the idle thread to end', timeoutMs: 5000, intervalMs: 0 });
    await close();
    expect(fs.existsSync(`${location}-wal`)).toBe(false);
  });

  it('folds a room from storage in the thread: snapshot written, exactly the rows it read deleted', async () => {
    const { database, db, w } = await setUp();
    expect(await w.foldFromStorage({ document: 'room:d', generation: 'g1', now: 1 })).toBeNull();
    const { updates, doc } = room(300, 0);
    const store = new KyselySyncStore({ database, minCommitIntervalMs: 0 });
    for (const update of updates) await store.append('room:d', update);
    const result = await w.foldFromStorage({ document: 'room:d', generation: 'g1', now: 1 });
    expect(result).toEqual({
      mergedUpdates: 300,
      mergedBytes: updates.reduce((sum, u) => sum + u.byteLength, 0),
      snapshotBytes: expect.any(Number),
    });
    const stored = await store.load('room:d');
    expect(stored.updates).toHaveLength(0);
    expect(stored.snapshotBytes).toBe(result?.snapshotBytes);
    expect(textsOf(stored.snapshot as Uint8Array)).toEqual(readMessages(doc).map((m) => m.text));
    const snapshot = await db.selectFrom('sync_snapshots').select('generation').executeTakeFirst();
    expect(snapshot?.generation).toBe('g1');
    // Nothing new to fold: nothing written.
    expect(await w.foldFromStorage({ document: 'room:d', generation: 'g2', now: 2 })).toBeNull();
  });

  it('writes no compaction without a database file', async () => {
    const w = new MergeWorker();
    cleanups.push(() => w.close());
    const write = {
      document: 'room:x',
      expectedGeneration: null,
      generation: 'g',
      now: 1,
      seqs: [],
      state: new Uint8Array(),
    };
    await expect(w.writeCompaction(write)).rejects.toThrow(/no database/);
    await expect(w.checkpoint()).rejects.toThrow(/no database/);
    await expect(w.foldFromStorage({ document: 'room:x', generation: 'g', now: 1 })).rejects.toThrow(/no database/);
  });
});
