import type { Database } from '@confab/platform';
import { waitFor } from '@confab/platform/testing';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import type { CompactionWriter } from './merge-worker';
import { KyselyRevocationList } from './revocations';
import type { SyncTables } from './schema';
import { KyselySyncStore, type KyselySyncStoreOptions } from './sync-store';

/** Compactions written by another connection (on SQLite, the merge thread's): one healthy, one that fails mid-write. */
export interface ContractWriters {
  readonly healthy: CompactionWriter;
  /** Fails every compaction's transaction after its snapshot write, before the rows' deletion. */
  readonly crashing: CompactionWriter;
}

/**
 * The one storage contract every database runs (SQLite and PostgreSQL).
 * `setup` opens a fresh, migrated database and returns it with its cleanup,
 * and the compaction writers every store of the run then uses (none: the
 * store's own connection writes compactions).
 */
export function runSyncStoreContract(
  name: string,
  setup: () => Promise<{ database: Database<unknown>; teardown: () => Promise<void>; writers?: ContractWriters }>,
): void {
  describe(`sync storage contract (${name})`, () => {
    let database: Database<unknown>;
    let teardown: () => Promise<void>;
    let writers: ContractWriters | undefined;
    /** What every store of the run takes besides the database. */
    let writer: { compactionWriter?: CompactionWriter } = {};
    let counter = 0;
    const docName = () => `room:contract${++counter}`;

    beforeAll(async () => {
      ({ database, teardown, writers } = await setup());
      writer = writers ? { compactionWriter: writers.healthy } : {};
    });
    afterAll(async () => {
      await teardown?.();
    });

    /** Writes `texts` as one update each, the way a client would send them. */
    function updatesFor(texts: string[]): { doc: Y.Doc; updates: Uint8Array[] } {
      const doc = new Y.Doc();
      const updates: Uint8Array[] = [];
      doc.on('update', (u: Uint8Array) => updates.push(u));
      for (const text of texts) doc.getArray('messages').push([{ text }]);
      return { doc, updates };
    }

    /** A message written and then deleted (its text must not survive a compaction), and one kept. */
    function updatesWithDeletedSecret(): { doc: Y.Doc; updates: Uint8Array[] } {
      const doc = new Y.Doc();
      const updates: Uint8Array[] = [];
      doc.on('update', (u: Uint8Array) => updates.push(u));
      doc.getArray('messages').push([{ text: 'secret-words-to-forget' }, { text: 'kept' }]);
      doc.getArray('messages').delete(0, 1);
      return { doc, updates };
    }

    function rebuild(stored: { snapshot: Uint8Array | null; updates: readonly Uint8Array[] }): Y.Doc {
      const doc = new Y.Doc();
      if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot);
      for (const u of stored.updates) Y.applyUpdate(doc, u);
      return doc;
    }

    it('loads an unknown document as empty, without creating anything', async () => {
      const store = new KyselySyncStore({ database, ...writer });
      const stored = await store.load(docName());
      expect(stored).toEqual({ snapshot: null, updates: [], snapshotBytes: 0, logBytes: 0, retiredMessageIds: [] });
    });

    it('loads appended updates back in order, rebuilding the same document', async () => {
      const store = new KyselySyncStore({ database, ...writer });
      const name = docName();
      const { doc, updates } = updatesFor(['a', 'b', 'c']);
      for (const u of updates) await store.append(name, u);
      const stored = await store.load(name);
      expect(stored.updates.map((u) => Buffer.from(u).toString('hex'))).toEqual(
        updates.map((u) => Buffer.from(u).toString('hex')),
      );
      expect(stored.logBytes).toBe(updates.reduce((n, u) => n + u.byteLength, 0));
      expect(rebuild(stored).getArray('messages').toJSON()).toEqual(doc.getArray('messages').toJSON());
    });

    it('keeps documents apart', async () => {
      const store = new KyselySyncStore({ database, ...writer });
      const a = docName();
      const b = docName();
      await store.append(a, updatesFor(['only in a']).updates[0]!);
      expect((await store.load(b)).updates).toHaveLength(0);
      expect((await store.load(a)).updates).toHaveLength(1);
    });

    it('keeps the ids of deleted messages an update names, through compaction, until the document is deleted', async () => {
      const store = new KyselySyncStore({ database, ...writer });
      const name = docName();
      const other = docName();
      const [first, second, third, fourth] = updatesFor(['a', 'b', 'c', 'd']).updates;
      await store.append(name, first!, [], ['m-1', 'm-2']);
      // Named again (a resent update, another instance's copy): kept once, and the append still lands.
      await store.append(name, second!, [], ['m-2', 'm-3']);
      // Twice in one group commit.
      await Promise.all([store.append(name, third!, [], ['m-4']), store.append(name, fourth!, [], ['m-4'])]);
      await store.append(other, first!);
      await store.compact(name);
      const stored = await store.load(name);
      expect([...stored.retiredMessageIds].sort()).toEqual(['m-1', 'm-2', 'm-3', 'm-4']);
      expect(stored.snapshot).not.toBeNull();
      expect((await store.load(other)).retiredMessageIds).toEqual([]);
      await store.deleteDocument(name);
      expect((await store.load(name)).retiredMessageIds).toEqual([]);
    });

    it('deletes a document, snapshot and log, and nothing of another', async () => {
      const store = new KyselySyncStore({ database, ...writer });
      const [gone, kept] = [docName(), docName()];
      for (const u of updatesFor(['one', 'two', 'three']).updates) await store.append(gone, u);
      await store.compact(gone);
      await store.append(gone, updatesFor(['after the snapshot']).updates[0]!);
      await store.append(kept, updatesFor(['stays']).updates[0]!);
      expect((await store.load(gone)).snapshot).not.toBeNull();
      await store.deleteDocument(gone);
      expect(await store.load(gone)).toEqual({
        snapshot: null,
        updates: [],
        snapshotBytes: 0,
        logBytes: 0,
        retiredMessageIds: [],
      });
      expect((await store.load(kept)).updates).toHaveLength(1);
      await store.deleteDocument(gone); // again: nothing to do, no error
    });

    it('writes the events of an update in the same transaction, and hands them out until deleted', async () => {
      const store = new KyselySyncStore({ database, ...writer });
      const name = docName();
      const before = await store.countPendingEvents();
      const event = { id: `ev-${counter}-${Date.now()}`, roomId: 'r1', messageId: 'm1', deletedBy: 'u1' };
      await store.append(name, updatesFor(['x']).updates[0]!, [{ subject: 'confab.room.r1.message.deleted', event }]);
      expect(await store.countPendingEvents()).toBe(before + 1);
      const pending = await store.pendingEvents(1000);
      expect(pending).toContainEqual({ id: event.id, subject: 'confab.room.r1.message.deleted', event });
      await store.deletePendingEvents([event.id]);
      expect(await store.countPendingEvents()).toBe(before);
    });

    it('writes about the size of the message per append, however large the room already is', async () => {
      const store = new KyselySyncStore({ database, ...writer });
      const name = docName();
      const { doc, updates } = updatesFor(Array.from({ length: 300 }, (_, i) => `message ${i} ${'x'.repeat(100)}`));
      for (const u of updates) await store.append(name, u);
      await store.compact(name);
      const before = (await store.load(name)).logBytes;
      let last: Uint8Array | undefined;
      doc.on('update', (u: Uint8Array) => {
        last = u;
      });
      doc.getArray('messages').push([{ text: 'one more' }]);
      await store.append(name, last!);
      const after = await store.load(name);
      expect(after.logBytes - before).toBe(last!.byteLength);
      expect(last!.byteLength).toBeLessThan(100);
      expect(after.snapshotBytes).toBeGreaterThan(30_000);
    });

    it('compaction folds the log into a snapshot and deletes exactly the rows it folded', async () => {
      const store = new KyselySyncStore({ database, ...writer });
      const name = docName();
      const { doc, updates } = updatesFor(['one', 'two', 'three']);
      for (const u of updates) await store.append(name, u);
      const result = await store.compact(name);
      expect(result?.mergedUpdates).toBe(3);
      const stored = await store.load(name);
      expect(stored.updates).toHaveLength(0);
      expect(stored.snapshot).not.toBeNull();
      expect(rebuild(stored).getArray('messages').toJSON()).toEqual(doc.getArray('messages').toJSON());
      expect(await store.compact(name)).toBeNull();

      doc.getArray('messages').push([{ text: 'four' }]);
      await store.append(name, Y.encodeStateAsUpdate(doc, Y.encodeStateVectorFromUpdate(stored.snapshot!)));
      const again = await store.load(name);
      expect(again.updates).toHaveLength(1);
      expect(rebuild(again).getArray('messages').toJSON()).toEqual(doc.getArray('messages').toJSON());
    });

    it('compaction drops the text of deleted messages from storage', async () => {
      const store = new KyselySyncStore({ database, ...writer });
      const name = docName();
      const { updates } = updatesWithDeletedSecret();
      for (const u of updates) await store.append(name, u);
      await store.compact(name);
      const stored = await store.load(name);
      expect(Buffer.from(stored.snapshot!).includes('secret-words-to-forget')).toBe(false);
      expect(rebuild(stored).getArray('messages').toJSON()).toEqual([{ text: 'kept' }]);
    });

    it('a crash between writing the snapshot and deleting the log loses nothing', async () => {
      const name = docName();
      // In the store's own transaction, or in the writer's (the merge thread's, on its connection).
      const crashing = new KyselySyncStore(
        writers
          ? { database, compactionWriter: writers.crashing }
          : {
              database,
              afterSnapshotWrite: () => {
                throw new Error('simulated crash');
              },
            },
      );
      const { doc, updates } = updatesFor(['keep 1', 'keep 2']);
      for (const u of updates) await crashing.append(name, u);
      await expect(crashing.compact(name)).rejects.toThrow(/simulated crash/);
      const stored = await crashing.load(name);
      expect(stored.snapshot).toBeNull();
      expect(stored.updates).toHaveLength(2);
      expect(rebuild(stored).getArray('messages').toJSON()).toEqual(doc.getArray('messages').toJSON());

      const healthy = new KyselySyncStore({ database, ...writer });
      expect((await healthy.compact(name))?.mergedUpdates).toBe(2);
      expect(
        rebuild(await healthy.load(name))
          .getArray('messages')
          .toJSON(),
      ).toEqual(doc.getArray('messages').toJSON());
    });

    it('a compaction that lost the race to another one commits nothing and loses nothing', async () => {
      const name = docName();
      const { doc, updates } = updatesFor(['a', 'b']);
      const other = new KyselySyncStore({ database, ...writer });
      for (const u of updates) await other.append(name, u);
      const late = new KyselySyncStore({
        database,
        ...writer,
        // Between the late compaction's read and its write, another one commits and a new update arrives.
        beforeCompactionWrite: async () => {
          await other.compact(name);
          doc.getArray('messages').push([{ text: 'c' }]);
          await other.append(name, Y.encodeStateAsUpdate(doc));
        },
      });
      expect(await late.compact(name)).toBeNull();
      const stored = await late.load(name);
      expect(stored.updates).toHaveLength(1);
      expect(rebuild(stored).getArray('messages').toJSON()).toEqual(doc.getArray('messages').toJSON());
    });

    describe('compaction from the loaded document', () => {
      /** The room as the sync server holds it once loaded: gc on, state from storage. */
      async function loadedDoc(store: KyselySyncStore, name: string): Promise<Y.Doc> {
        const doc = new Y.Doc({ gc: true });
        const stored = await store.load(name);
        if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot);
        for (const u of stored.updates) Y.applyUpdate(doc, u);
        return doc;
      }

      it('takes the snapshot from the loaded document and folds exactly the rows it read', async () => {
        const store = new KyselySyncStore({ database, ...writer });
        const name = docName();
        const { doc, updates } = updatesFor(['one', 'two']);
        for (const u of updates) await store.append(name, u);
        await store.compact(name);
        const loaded = await loadedDoc(store, name);
        doc.getArray('messages').push([{ text: 'three' }]);
        const third = Y.encodeStateAsUpdate(doc, Y.encodeStateVector(loaded));
        Y.applyUpdate(loaded, third);
        await store.append(name, third);

        let transactions = 0;
        loaded.on('afterTransaction', () => transactions++);
        const result = await store.compact(name, () => ({ doc: loaded }));
        expect(result?.mergedUpdates).toBe(1);
        expect(result?.mergedBytes).toBe(third.byteLength);
        // Encoded as it is: no row is read back into it.
        expect(transactions).toBe(0);
        const stored = await store.load(name);
        expect(stored.updates).toHaveLength(0);
        expect(Buffer.from(stored.snapshot!).equals(Buffer.from(Y.encodeStateAsUpdate(loaded)))).toBe(true);
        expect(rebuild(stored).getArray('messages').toJSON()).toEqual([
          { text: 'one' },
          { text: 'two' },
          { text: 'three' },
        ]);
      });

      it('keeps a row committed after its read for the next compaction', async () => {
        const store = new KyselySyncStore({
          database,
          ...writer,
          beforeCompactionWrite: async (document) => {
            if (document === name) await store.append(name, late);
          },
        });
        const name = docName();
        const { doc, updates } = updatesFor(['folded', 'committed during the compaction']);
        const late = updates.pop()!;
        for (const u of updates) await store.append(name, u);
        const loaded = await loadedDoc(store, name);

        expect((await store.compact(name, () => ({ doc: loaded })))?.mergedUpdates).toBe(1);
        const stored = await store.load(name);
        expect(stored.updates.map((u) => Buffer.from(u).toString('hex'))).toEqual([Buffer.from(late).toString('hex')]);
        expect(rebuild(stored).getArray('messages').toJSON()).toEqual(doc.getArray('messages').toJSON());
      });

      it('drops deleted text and rebuilds from storage when the loaded document is gone', async () => {
        const store = new KyselySyncStore({ database, ...writer });
        const name = docName();
        const { doc: author, updates } = updatesWithDeletedSecret();
        for (const u of updates) await store.append(name, u);
        const loaded = await loadedDoc(store, name);
        await store.compact(name, () => ({ doc: loaded }));
        const stored = await store.load(name);
        expect(Buffer.from(stored.snapshot!).includes('secret-words-to-forget')).toBe(false);
        expect(rebuild(stored).getArray('messages').toJSON()).toEqual([{ text: 'kept' }]);

        // Unloaded meanwhile (destroyed): the stored snapshot and log are the source again.
        author.getArray('messages').push([{ text: 'after the unload' }]);
        await store.append(name, updates.at(-1)!);
        loaded.destroy();
        expect((await store.compact(name, () => ({ doc: loaded })))?.mergedUpdates).toBe(1);
        expect(
          rebuild(await store.load(name))
            .getArray('messages')
            .toJSON(),
        ).toEqual([{ text: 'kept' }, { text: 'after the unload' }]);
      });
    });

    it('refuses every token of a revoked session, and older tokens after a removal', async () => {
      const list = new KyselyRevocationList(database, 15 * 60_000);
      const n = ++counter;
      const t0 = 1_800_000_000_000;
      const token = {
        sessionId: `s${n}`,
        userId: `u${n}`,
        roomId: `r${n}`,
        issuedAtMs: t0,
        role: 'reader' as const,
      };
      expect(await list.check(token)).toBeNull();
      await list.membershipChanged(token.userId, token.roomId, null, t0 + 500);
      expect(await list.check(token)).toEqual({ kind: 'membership' });
      expect(await list.check({ ...token, issuedAtMs: t0 + 1000 })).toBeNull();
      expect(await list.check({ ...token, roomId: 'other' })).toBeNull();
      expect(await list.check({ ...token, roomId: null })).toBeNull();
      await list.revokeSession(token.sessionId, t0 + 2000);
      expect(await list.check({ ...token, issuedAtMs: t0 + 5000 })).toEqual({ kind: 'session' });
      // A redelivered, older event does not move the change time back, nor bring back its role.
      await list.membershipChanged(token.userId, token.roomId, 'owner', t0 - 60_000);
      expect(await list.check({ ...token, sessionId: 'fresh', issuedAtMs: t0 + 400 })).toEqual({ kind: 'membership' });
      expect(await list.prune(t0 + 2000 + 15 * 60_000 + 1)).toBeGreaterThanOrEqual(2);
      expect(await list.check(token)).toBeNull();
    });

    it('serves an older token with the role the latest change set', async () => {
      const list = new KyselyRevocationList(database, 15 * 60_000);
      const n = ++counter;
      const t0 = 1_800_000_000_000;
      const token = {
        sessionId: `s${n}`,
        userId: `u${n}`,
        roomId: `r${n}`,
        issuedAtMs: t0,
        role: 'owner' as const,
      };
      await list.membershipChanged(token.userId, token.roomId, 'member', t0 + 500);
      // Demoted owner → member: the owner token from before counts as member, and so does a reader token
      // from before (a promotion, for it); a member token is untouched.
      expect(await list.check(token)).toEqual({ kind: 'role', role: 'member' });
      expect(await list.check({ ...token, role: 'member' })).toBeNull();
      expect(await list.check({ ...token, role: 'reader' })).toEqual({ kind: 'role', role: 'member' });
      // The same millisecond counts as before (`iat` has second resolution); later tokens reflect the change.
      expect(await list.check({ ...token, issuedAtMs: t0 + 500 })).toEqual({ kind: 'role', role: 'member' });
      expect(await list.check({ ...token, issuedAtMs: t0 + 1000 })).toBeNull();
      // Promoted back to owner: the owner token from before is the role held now.
      await list.membershipChanged(token.userId, token.roomId, 'owner', t0 + 900);
      expect(await list.check(token)).toBeNull();
      // Events processed out of order: the latest change decides, whatever arrives last.
      await list.membershipChanged(token.userId, token.roomId, 'reader', t0 + 800);
      expect(await list.check(token)).toBeNull();
      await list.membershipChanged(token.userId, token.roomId, 'reader', t0 + 1500);
      expect(await list.check({ ...token, role: 'member', issuedAtMs: t0 + 1000 })).toEqual({
        kind: 'role',
        role: 'reader',
      });
      expect(await list.check({ ...token, role: 'reader', issuedAtMs: t0 + 1000 })).toBeNull();
    });

    it('never refuses a token because of a grant, even one issued in the same second', async () => {
      const list = new KyselyRevocationList(database, 15 * 60_000);
      const n = ++counter;
      const t0 = 1_800_000_000_000;
      const owner = { sessionId: `s${n}`, userId: `u${n}`, roomId: `r${n}`, role: 'owner' as const };
      // Room created: the creator is owner; the token fetched right after has the same `iat` second.
      await list.membershipChanged(owner.userId, owner.roomId, 'owner', t0 + 700);
      expect(await list.check({ ...owner, issuedAtMs: t0 })).toBeNull();
      // Invite accepted as member.
      await list.membershipChanged(`v${n}`, owner.roomId, 'member', t0 + 700);
      expect(await list.check({ ...owner, userId: `v${n}`, role: 'member', issuedAtMs: t0 })).toBeNull();
    });
  });
}

/**
 * Group commit of appends (one transaction for the appends that queue up while
 * another commits). `setup` opens a fresh, migrated database and a second
 * connection to it (`peer`), which sees only what has been committed.
 */
export function runGroupCommitContract(
  name: string,
  setup: () => Promise<{ database: Database<unknown>; peer: Database<unknown>; teardown: () => Promise<void> }>,
): void {
  describe(`sync storage group commit (${name})`, () => {
    let database: Database<unknown>;
    let peer: Database<unknown>;
    let teardown: () => Promise<void>;
    let counter = 0;
    const docName = () => `room:group${++counter}`;

    beforeAll(async () => {
      ({ database, peer, teardown } = await setup());
    });
    afterAll(async () => {
      await teardown?.();
    });

    /** One real Yjs update per text, for `document`, tagged so a row can be traced back to its call. */
    function updatesFor(texts: string[]): Uint8Array[] {
      const doc = new Y.Doc();
      const updates: Uint8Array[] = [];
      doc.on('update', (u: Uint8Array) => updates.push(u));
      for (const text of texts) doc.getArray('messages').push([{ text }]);
      return updates;
    }

    const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');

    /** What another connection sees: committed log rows of `document`. */
    async function committedRows(document: string): Promise<number> {
      const row = await (peer.db as Kysely<SyncTables>)
        .selectFrom('sync_updates')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('document', '=', document)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    }

    async function committedEvents(ids: readonly string[]): Promise<number> {
      const row = await (peer.db as Kysely<SyncTables>)
        .selectFrom('sync_pending_events')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('id', 'in', [...ids])
        .executeTakeFirstOrThrow();
      return Number(row.n);
    }

    /** A gate the first append transaction waits on, so the appends made meanwhile queue into one batch. */
    function gatedStore(options: Partial<KyselySyncStoreOptions> = {}) {
      const batches: string[][] = [];
      let open: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      let inside: (documents: readonly string[]) => void | Promise<void> = () => {};
      const store = new KyselySyncStore({
        database,
        ...options,
        beforeAppendCommit: async (documents) => {
          batches.push([...documents]);
          if (batches.length === 1) await gate;
          else await inside(documents);
        },
      });
      /** The blocker: an append with an event, so it runs in a transaction and holds the gate. */
      const block = (document: string) =>
        store.append(document, updatesFor(['blocker'])[0]!, [
          { subject: 'confab.test', event: { id: `blocker-${document}-${Date.now()}` } },
        ]);
      return {
        store,
        batches,
        block,
        open: () => open(),
        onLaterBatch: (fn: typeof inside) => {
          inside = fn;
        },
      };
    }

    it('lands every one of many concurrent appends exactly once, in call order per document, in shared transactions', async () => {
      const batches: string[][] = [];
      const store = new KyselySyncStore({
        database,
        beforeAppendCommit: (documents) => {
          batches.push([...documents]);
        },
      });
      const documents = Array.from({ length: 5 }, docName);
      const perDocument = 60;
      const updates = new Map(
        documents.map((d) => [d, updatesFor(Array.from({ length: perDocument }, (_, i) => `${d} ${i}`))]),
      );
      const eventIds: string[] = [];
      const calls: Promise<void>[] = [];
      // Interleaved across documents, all issued without waiting, half of them carrying an event.
      for (let i = 0; i < perDocument; i++) {
        for (const d of documents) {
          const events = i % 2 === 0 ? [{ subject: 'confab.test', event: { id: `${d}-event-${i}`, roomId: d } }] : [];
          eventIds.push(...events.map((e) => e.event.id));
          calls.push(store.append(d, updates.get(d)![i]!, events));
        }
      }
      await Promise.all(calls);

      for (const d of documents) {
        expect((await store.load(d)).updates.map(hex)).toEqual(updates.get(d)!.map(hex));
      }
      expect(await committedEvents(eventIds)).toBe(eventIds.length);
      // Fewer transactions than appends: the appends queued behind a commit shared the next one.
      expect(batches.length).toBeLessThan(calls.length / 2);
      expect(Math.max(...batches.map((b) => b.length))).toBeGreaterThan(1);
      expect(new Set(batches.flat())).toEqual(new Set(documents));
    });

    it('a failing transaction rejects every caller in it and stores none of their rows or events', async () => {
      const { store, batches, block, open } = gatedStore();
      const blockerDoc = docName();
      const documents = Array.from({ length: 4 }, docName);
      const blocked = block(blockerDoc);
      await waitFor(() => batches.length === 1);
      // Queued while the blocker commits, so they form the next batch; two of them carry the same
      // event id, which breaks the primary key of sync_pending_events and fails the whole transaction.
      const duplicate = `dup-${documents[0]}`;
      const eventsOf = (i: number) =>
        i === 1 || i === 3 ? [{ subject: 'confab.test', event: { id: duplicate } }] : [];
      const queued = documents.map((d, i) =>
        store.append(d, updatesFor([`doomed ${i}`])[0]!, eventsOf(i), i === 2 ? ['retired-in-doomed'] : []),
      );
      open();
      await blocked;
      const results = await Promise.allSettled(queued);
      // The two callers without the duplicate are rejected too: they were in the same transaction.
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
      for (const d of documents) {
        expect(await committedRows(d)).toBe(0);
        expect((await store.load(d)).updates).toHaveLength(0);
        expect((await store.load(d)).retiredMessageIds).toEqual([]);
      }
      expect(await committedEvents([duplicate])).toBe(0);
      expect(await committedRows(blockerDoc)).toBe(1);

      // The store keeps working: the next append commits.
      await store.append(documents[0]!, updatesFor(['after the failure'])[0]!);
      expect(await committedRows(documents[0]!)).toBe(1);
    });

    it('resolves no caller before the transaction holding its row has committed', async () => {
      const { store, batches, block, open, onLaterBatch } = gatedStore();
      const documents = Array.from({ length: 3 }, docName);
      const settled = new Set<string>();
      const seenWhileOpen: number[] = [];
      onLaterBatch(async (batchDocuments) => {
        // Rows written, transaction not yet committed: nobody may have been told "stored".
        for (const d of batchDocuments) seenWhileOpen.push(await committedRows(d));
        expect([...settled]).toEqual([]);
      });
      const blocked = block(docName());
      await waitFor(() => batches.length === 1);
      const seenAtResolve = await Promise.all([
        blocked.then(() => 'blocker'),
        ...documents.map((d, i) =>
          store
            .append(d, updatesFor([`held ${i}`])[0]!, [{ subject: 'confab.test', event: { id: `held-${d}` } }])
            .then(async () => {
              settled.add(d);
              return committedRows(d);
            }),
        ),
        Promise.resolve().then(open),
      ]);
      expect(batches[1]).toEqual(documents);
      expect(seenWhileOpen).toEqual([0, 0, 0]);
      expect(seenAtResolve.slice(1, 4)).toEqual([1, 1, 1]);
    });

    it('deletes exactly the published events named, group-committed with concurrent appends (on SQLite in their transaction)', async () => {
      const { store, batches, block, open, onLaterBatch } = gatedStore();
      const [a, b, c] = [docName(), docName(), docName()];
      const published = { subject: 'confab.test', event: { id: `published-${a}` } };
      const kept = { subject: 'confab.test', event: { id: `kept-${a}` } };
      const fresh = { subject: 'confab.test', event: { id: `fresh-${b}` } };
      await new KyselySyncStore({ database }).append(a, updatesFor(['a'])[0]!, [published, kept]);
      let deleted = false;
      const seenInside: number[] = [];
      // SQLite has one writer, so a deletion shares the appends' transaction (and fsync); PostgreSQL
      // commits in parallel, so there deletions have their own queue and never hold up an append.
      const sharesTransaction = database.kind === 'sqlite';
      onLaterBatch(async () => {
        if (!sharesTransaction) return;
        // Inside the shared transaction: the deletion is written but not committed, nor reported.
        seenInside.push(await committedEvents([published.event.id]));
        expect(deleted).toBe(false);
      });
      const blocked = block(docName());
      await waitFor(() => batches.length === 1);
      const queued = [
        store.append(b, updatesFor(['b'])[0]!, [fresh]),
        store.deletePendingEvents([published.event.id]).then(() => {
          deleted = true;
        }),
        store.append(c, updatesFor(['c'])[0]!),
      ];
      open();
      await Promise.all([blocked, ...queued]);
      expect(batches[1]).toEqual([b, c]);
      expect(seenInside).toEqual(sharesTransaction ? [1] : []);
      expect(deleted).toBe(true);
      expect(await committedEvents([published.event.id])).toBe(0);
      expect(await committedEvents([kept.event.id, fresh.event.id])).toBe(2);
      expect(await committedRows(b)).toBe(1);
      expect(await committedRows(c)).toBe(1);
    });

    it('bounds a transaction by the number of appends and by their bytes, keeping call order', async () => {
      const updates = updatesFor(Array.from({ length: 12 }, (_, i) => `bounded ${i} ${'y'.repeat(200)}`));
      const largest = Math.max(...updates.map((u) => u.byteLength));
      /** Queues all of `updates` behind a held transaction; returns the sizes of the transactions after it. */
      async function batchSizes(options: Partial<KyselySyncStoreOptions>): Promise<number[]> {
        const { store, batches, block, open } = gatedStore(options);
        const document = docName();
        const blocked = block(docName());
        await waitFor(() => batches.length === 1);
        const queued = updates.map((u, i) =>
          store.append(document, u, [{ subject: 'confab.test', event: { id: `bounded-${document}-${i}` } }]),
        );
        open();
        await Promise.all([blocked, ...queued]);
        expect((await store.load(document)).updates.map(hex)).toEqual(updates.map(hex));
        return batches.slice(1).map((b) => b.length);
      }
      expect(await batchSizes({ maxBatchUpdates: 5 })).toEqual([5, 5, 2]);
      expect(await batchSizes({ maxBatchBytes: 3 * largest })).toEqual([3, 3, 3, 3]);
    });
  });
}
