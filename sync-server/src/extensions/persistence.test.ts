import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Database, migrate, openDatabase } from '@confab/platform';
import type { onLoadDocumentPayload } from '@hocuspocus/server';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { mergeInline } from '../storage/merge-worker';
import { MIGRATION_TABLE, syncMigrations } from '../storage/schema';
import { KyselySyncStore } from '../storage/sync-store';
import { SyncMetrics } from './metrics';
import { Persistence } from './persistence';

/**
 * Persistence on a real SQLite database, driven as Hocuspocus drives it: a
 * document loaded, updates appended, the document unloaded and loaded again.
 */
describe('persistence', () => {
  let dir: string;
  let database: Database<unknown>;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-persistence-'));
    database = openDatabase<unknown>({ dataDir: dir });
    await migrate(database.db, MIGRATION_TABLE, syncMigrations(database.kind));
  });
  afterAll(async () => {
    await database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A store whose appends wait for `release()` before they reach the database. */
  function heldStore() {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    class HeldStore extends KyselySyncStore {
      override async append(...args: Parameters<KyselySyncStore['append']>): Promise<void> {
        await gate;
        return super.append(...args);
      }
    }
    const store = new KyselySyncStore({ database });
    return { store, held: new HeldStore({ database }), release };
  }

  /** A Persistence that logs nothing and counts into a registry of its own. */
  const quietPersistence = (options: Omit<ConstructorParameters<typeof Persistence>[0], 'logger' | 'metrics'>) =>
    new Persistence({ logger: pino({ level: 'silent' }), metrics: new SyncMetrics(new Registry()), ...options });

  const load = (persistence: Persistence, documentName: string, document: Y.Doc) =>
    persistence.onLoadDocument({ document, documentName } as unknown as onLoadDocumentPayload);

  it('loads a room again only after the appends of its earlier load have committed, so compaction from it keeps them', async () => {
    const { store, held, release } = heldStore();
    const persistence = quietPersistence({
      store: held,
      compactMinBytes: 1024 * 1024,
      compactFromLoadedDocument: true,
    });
    const name = 'room:reloaded';
    const first = new Y.Doc();
    await load(persistence, name, first);
    const writer = new Y.Doc();
    const updates: Uint8Array[] = [];
    writer.on('update', (u: Uint8Array) => updates.push(u));
    writer.getArray('messages').push([{ text: 'sent just before everyone left' }]);
    Y.applyUpdate(first, updates[0]!);
    const appended = persistence.append(name, updates[0]!, []);

    // Everyone left, the document unloaded, and someone came straight back: a new load of the room.
    first.destroy();
    const second = new Y.Doc();
    let loaded = false;
    const reloading = load(persistence, name, second).then(() => {
      loaded = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(loaded).toBe(false);

    release();
    await appended;
    await reloading;
    expect(second.getArray('messages').toJSON()).toEqual([{ text: 'sent just before everyone left' }]);

    // The compaction takes its snapshot from the second load, which must therefore hold the row.
    await persistence.compactNow(name);
    const stored = await store.load(name);
    expect(stored.updates).toHaveLength(0);
    const rebuilt = new Y.Doc();
    Y.applyUpdate(rebuilt, stored.snapshot!);
    expect(rebuilt.getArray('messages').toJSON()).toEqual([{ text: 'sent just before everyone left' }]);
  });

  it('deletes a document only after its appends in flight have committed, so none lands after the delete', async () => {
    const { store, held, release } = heldStore();
    const persistence = quietPersistence({
      store: held,
      compactMinBytes: 1024 * 1024,
    });
    const name = 'room:deleted-while-writing';
    const writer = new Y.Doc();
    const updates: Uint8Array[] = [];
    writer.on('update', (u: Uint8Array) => updates.push(u));
    writer.getArray('messages').push([{ text: 'in flight when the room was deleted' }]);
    const appended = persistence.append(name, updates[0]!, []);
    let deleted = false;
    const deleting = persistence.deleteDocument(name).then(() => {
      deleted = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(deleted).toBe(false);
    release();
    await appended;
    await deleting;
    // Without the wait, the row committed after the delete and stayed.
    expect(await store.load(name)).toMatchObject({ snapshot: null, updates: [] });
  });

  it('loads at once when no append of the room is in flight', async () => {
    const { held } = heldStore();
    const persistence = quietPersistence({
      store: held,
      compactMinBytes: 1024 * 1024,
    });
    // An append of another room, held forever, does not hold this one's load.
    void persistence.append('room:other', new Uint8Array([0, 0]), []);
    const doc = new Y.Doc();
    await load(persistence, 'room:idle', doc);
    expect(doc.getArray('messages').length).toBe(0);
  });

  describe('compaction of a loaded room', () => {
    /** A loaded room with one appended message of ~300 bytes, its store counting the merges it did from storage. */
    async function roomWithOneMessage(liveCompactionMaxBytes: number) {
      let merges = 0;
      const store = new KyselySyncStore({
        database,
        merge: (snapshot, updates) => {
          merges++;
          return mergeInline(snapshot, updates);
        },
      });
      const persistence = quietPersistence({
        store,
        compactMinBytes: 1024 * 1024,
        compactFromLoadedDocument: true,
        liveCompactionMaxBytes,
      });
      const name = `room:sized${liveCompactionMaxBytes}`;
      const doc = new Y.Doc();
      await load(persistence, name, doc);
      const updates: Uint8Array[] = [];
      doc.on('update', (u: Uint8Array) => updates.push(u));
      doc.getArray('messages').push([{ text: 'x'.repeat(300) }]);
      await persistence.append(name, updates[0]!, []);
      await persistence.compactNow(name);
      const stored = await store.load(name);
      const rebuilt = new Y.Doc();
      Y.applyUpdate(rebuilt, stored.snapshot!);
      return { merges: () => merges, stored, rebuilt };
    }

    it('encodes a room within liveCompactionMaxBytes from the loaded document', async () => {
      const { merges, stored, rebuilt } = await roomWithOneMessage(64 * 1024);
      expect(merges()).toBe(0);
      expect(stored.updates).toHaveLength(0);
      expect(rebuilt.getArray('messages').toJSON()).toEqual([{ text: 'x'.repeat(300) }]);
    });

    it("folds a larger room from storage with the store's merge (the worker, in the server)", async () => {
      const { merges, stored, rebuilt } = await roomWithOneMessage(100);
      expect(merges()).toBe(1);
      expect(stored.updates).toHaveLength(0);
      expect(rebuilt.getArray('messages').toJSON()).toEqual([{ text: 'x'.repeat(300) }]);
    });
  });

  describe('compaction at the threshold', () => {
    /**
     * A room whose first compaction, once it has read and folded the log, waits until `release()`
     * (`folded` resolves then); appends made meanwhile look due to the ledger until it has written.
     * Counts the compactions that reach the store.
     */
    async function roomCompactingSlowly(name: string) {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let reached!: () => void;
      const folded = new Promise<void>((resolve) => {
        reached = resolve;
      });
      let compactions = 0;
      class CountingStore extends KyselySyncStore {
        override compact(...args: Parameters<KyselySyncStore['compact']>) {
          compactions++;
          return super.compact(...args);
        }
      }
      const store = new CountingStore({
        database,
        beforeCompactionWrite: async () => {
          if (compactions > 1) return;
          reached();
          await gate;
        },
      });
      const persistence = quietPersistence({
        store,
        compactMinBytes: 1000,
        compactFromLoadedDocument: true,
      });
      const doc = new Y.Doc();
      await load(persistence, name, doc);
      const updates: Uint8Array[] = [];
      doc.on('update', (u: Uint8Array) => updates.push(u));
      const write = (bytes: number) => {
        doc.getArray('messages').push([{ text: 'x'.repeat(bytes) }]);
        return persistence.append(name, updates.at(-1)!, []);
      };
      return { persistence, store, write, folded, release, compactions: () => compactions };
    }

    it('does not follow a compaction with another for the rows appended while it ran, below the threshold', async () => {
      const name = 'room:threshold-once';
      const room = await roomCompactingSlowly(name);
      await room.write(1200); // past 1000 bytes: the first compaction starts and holds before its write
      await room.folded;
      await room.write(100);
      await room.write(100); // each looks due while the first has not written yet
      room.release();
      await room.persistence.drain();
      expect(room.compactions()).toBe(1);
      expect((await room.store.load(name)).updates).toHaveLength(2);
    });

    it('compacts again when the rows appended meanwhile pass the threshold themselves', async () => {
      const name = 'room:threshold-twice';
      const room = await roomCompactingSlowly(name);
      await room.write(1200);
      await room.folded;
      await room.write(1500);
      room.release();
      await room.persistence.drain();
      expect(room.compactions()).toBe(2);
      expect((await room.store.load(name)).updates).toHaveLength(0);
    });
  });

  it('runs the compactions of different rooms one after another, not at once', async () => {
    let running = 0;
    let most = 0;
    const order: string[] = [];
    class SlowStore extends KyselySyncStore {
      override async compact(...args: Parameters<KyselySyncStore['compact']>) {
        running++;
        most = Math.max(most, running);
        order.push(args[0]);
        await new Promise((resolve) => setTimeout(resolve, 20));
        try {
          return await super.compact(...args);
        } finally {
          running--;
        }
      }
    }
    const store = new SlowStore({ database });
    const persistence = quietPersistence({
      store,
      compactMinBytes: 1024 * 1024,
    });
    const rooms = ['room:together-a', 'room:together-b', 'room:together-c'];
    for (const name of rooms) {
      const writer = new Y.Doc();
      let update!: Uint8Array;
      writer.on('update', (u: Uint8Array) => {
        update = u;
      });
      writer.getArray('messages').push([{ text: name }]);
      await persistence.append(name, update, []);
    }
    await Promise.all(rooms.map((name) => persistence.compactNow(name)));
    expect(most).toBe(1);
    expect(order).toEqual(rooms);
    for (const name of rooms) expect((await store.load(name)).updates).toHaveLength(0);
  });
});
