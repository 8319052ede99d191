import type { Database } from '@confab/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { KyselyRevocationList } from './revocations';
import { KyselySyncStore } from './sync-store';

/**
 * The one storage contract every database runs (SQLite and PostgreSQL).
 * `setup` opens a fresh, migrated database and returns it with its cleanup.
 */
export function runSyncStoreContract(
  name: string,
  setup: () => Promise<{ database: Database<unknown>; teardown: () => Promise<void> }>,
): void {
  describe(`sync storage contract (${name})`, () => {
    let database: Database<unknown>;
    let teardown: () => Promise<void>;
    let counter = 0;
    const docName = () => `room:contract${++counter}`;

    beforeAll(async () => {
      ({ database, teardown } = await setup());
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

    function rebuild(stored: { snapshot: Uint8Array | null; updates: readonly Uint8Array[] }): Y.Doc {
      const doc = new Y.Doc();
      if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot);
      for (const u of stored.updates) Y.applyUpdate(doc, u);
      return doc;
    }

    it('loads an unknown document as empty, without creating anything', async () => {
      const store = new KyselySyncStore({ database });
      const stored = await store.load(docName());
      expect(stored).toEqual({ snapshot: null, updates: [], snapshotBytes: 0, logBytes: 0 });
    });

    it('loads appended updates back in order, rebuilding the same document', async () => {
      const store = new KyselySyncStore({ database });
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
      const store = new KyselySyncStore({ database });
      const a = docName();
      const b = docName();
      await store.append(a, updatesFor(['only in a']).updates[0]!);
      expect((await store.load(b)).updates).toHaveLength(0);
      expect((await store.load(a)).updates).toHaveLength(1);
    });

    it('writes the events of an update in the same transaction, and hands them out until deleted', async () => {
      const store = new KyselySyncStore({ database });
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
      const store = new KyselySyncStore({ database });
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
      const store = new KyselySyncStore({ database });
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
      const store = new KyselySyncStore({ database });
      const name = docName();
      const doc = new Y.Doc();
      const updates: Uint8Array[] = [];
      doc.on('update', (u: Uint8Array) => updates.push(u));
      doc.getArray('messages').push([{ text: 'secret-words-to-forget' }, { text: 'kept' }]);
      doc.getArray('messages').delete(0, 1);
      for (const u of updates) await store.append(name, u);
      await store.compact(name);
      const stored = await store.load(name);
      expect(Buffer.from(stored.snapshot!).includes('secret-words-to-forget')).toBe(false);
      expect(rebuild(stored).getArray('messages').toJSON()).toEqual([{ text: 'kept' }]);
    });

    it('a crash between writing the snapshot and deleting the log loses nothing', async () => {
      const name = docName();
      const crashing = new KyselySyncStore({
        database,
        afterSnapshotWrite: () => {
          throw new Error('simulated crash');
        },
      });
      const { doc, updates } = updatesFor(['keep 1', 'keep 2']);
      for (const u of updates) await crashing.append(name, u);
      await expect(crashing.compact(name)).rejects.toThrow('simulated crash');
      const stored = await crashing.load(name);
      expect(stored.snapshot).toBeNull();
      expect(stored.updates).toHaveLength(2);
      expect(rebuild(stored).getArray('messages').toJSON()).toEqual(doc.getArray('messages').toJSON());

      const healthy = new KyselySyncStore({ database });
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
      const other = new KyselySyncStore({ database });
      for (const u of updates) await other.append(name, u);
      const late = new KyselySyncStore({
        database,
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

    it('limits an older token to the role the latest change set, only when it grants more', async () => {
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
      // Demoted owner → member: the owner token from before counts as member; member and reader tokens are untouched.
      expect(await list.check(token)).toEqual({ kind: 'demoted', role: 'member' });
      expect(await list.check({ ...token, role: 'member' })).toBeNull();
      expect(await list.check({ ...token, role: 'reader' })).toBeNull();
      // The same millisecond counts as before (`iat` has second resolution); later tokens reflect the change.
      expect(await list.check({ ...token, issuedAtMs: t0 + 500 })).toEqual({ kind: 'demoted', role: 'member' });
      expect(await list.check({ ...token, issuedAtMs: t0 + 1000 })).toBeNull();
      // Promoted back to owner: nothing older is limited any more, even a token of the same second.
      await list.membershipChanged(token.userId, token.roomId, 'owner', t0 + 900);
      expect(await list.check(token)).toBeNull();
      // Events processed out of order: the latest change decides, whatever arrives last.
      await list.membershipChanged(token.userId, token.roomId, 'reader', t0 + 800);
      expect(await list.check(token)).toBeNull();
      await list.membershipChanged(token.userId, token.roomId, 'reader', t0 + 1500);
      expect(await list.check({ ...token, role: 'member', issuedAtMs: t0 + 1000 })).toEqual({
        kind: 'demoted',
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
