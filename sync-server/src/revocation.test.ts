import { uniqueSuffix, waitFor } from '@confab/platform/testing';
import { appendMessage, isMembersMessage, newEventId, parseAccessMessage, subjects } from '@confab/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { createConfabGuard } from './extensions/confab-guard';
import { message } from './guard/test-kit';
import type { SyncTables } from './storage/schema';
import {
  connectClient,
  openTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
  messageTexts as texts,
} from './testing/harness';
import { MemoryBus } from './testing/memory-bus';
import { createTokenIssuer } from './testing/tokens';

const room = () => `r${uniqueSuffix()}`;
const nowS = () => Math.floor(Date.now() / 1000);

describe('revocation through the bus', () => {
  let db: TestDatabase;
  let issuer: Awaited<ReturnType<typeof createTokenIssuer>>;
  let t: TestServer;
  const bus = new MemoryBus();

  beforeAll(async () => {
    db = await openTestDatabase('sqlite');
    issuer = await createTokenIssuer();
    t = await startTestServer({ database: db, bus, issuer });
  });
  afterAll(async () => {
    await t?.stop();
    await db?.close();
  });

  it('closes every connection of a revoked session within 5 s and refuses its tokens afterwards', async () => {
    const [r1, r2] = [room(), room()];
    const a1 = await t.connect({ name: `room:${r1}`, user: 'alice', sid: 'sessA' });
    const a2 = await t.connect({ name: `room:${r2}`, user: 'alice', sid: 'sessA' });
    const otherDevice = await t.connect({ name: `room:${r1}`, user: 'alice', sid: 'sessB' });
    const started = Date.now();
    await bus.publish(subjects.sessionRevoked, { id: newEventId(), sessionId: 'sessA', userId: 'alice' });
    await waitFor(() => a1.closes.length > 0 && a2.closes.length > 0, { timeoutMs: 5000 });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(a1.closes[0]).toEqual({ code: 4401, reason: 'session_revoked' });
    expect(a2.closes[0]).toEqual({ code: 4401, reason: 'session_revoked' });
    a1.destroy();
    a2.destroy();
    expect(otherDevice.closes).toEqual([]);
    // Even a token minted later for that session is refused.
    const later = await issuer.sign({ sub: 'alice', sid: 'sessA', doc: `room:${r1}`, iat: nowS() + 2 });
    await expect(connectClient(t.url, later, { name: `room:${r1}`, user: 'alice' })).rejects.toThrow(
      'authentication failed: session_revoked',
    );
    otherDevice.destroy();
  });

  it('closes a removed member’s connection to that room only, and refuses tokens issued before the removal', async () => {
    const [r1, r2] = [room(), room()];
    const tokenBefore = await issuer.sign({ sub: 'alice', sid: 'sessC', doc: `room:${r1}` });
    const alice = await t.connect({ name: `room:${r1}`, user: 'alice', sid: 'sessC' });
    const aliceElsewhere = await t.connect({ name: `room:${r2}`, user: 'alice', sid: 'sessC' });
    const bob = await t.connect({ name: `room:${r1}`, user: 'bob' });
    await bus.publish(subjects.membershipChanged, { id: newEventId(), roomId: r1, userId: 'alice', role: null });
    await waitFor(() => alice.closes.length > 0, { timeoutMs: 5000 });
    expect(alice.closes.some((c) => c.reason === 'membership_revoked')).toBe(true);
    alice.destroy();
    expect(aliceElsewhere.closes).toEqual([]);
    expect(bob.closes).toEqual([]);
    await expect(connectClient(t.url, tokenBefore, { name: `room:${r1}`, user: 'alice' })).rejects.toThrow(
      'authentication failed: forbidden',
    );
    // A token issued after the change (say she was invited back) is accepted.
    const tokenAfter = await issuer.sign({ sub: 'alice', sid: 'sessC', doc: `room:${r1}`, iat: nowS() + 2 });
    const back = await connectClient(t.url, tokenAfter, { name: `room:${r1}`, user: 'alice' });
    back.destroy();
    aliceElsewhere.destroy();
    bob.destroy();
  });

  it('leaves open connections alone for an auth event older than any live token (a new instance replaying the stream)', async () => {
    const r = room();
    const name = `room:${r}`;
    const alice = await t.connect({ name, user: 'alice', sid: 'sessOld' });
    const carol = await t.connect({ name, user: 'carol' });
    // Removed 20 minutes ago (the event id's time), invited back since: her connection now was authorised after it.
    const twentyMinutesAgo = Date.now() - 20 * 60_000;
    await bus.publish(subjects.membershipChanged, {
      id: newEventId(twentyMinutesAgo),
      roomId: r,
      userId: 'alice',
      role: null,
    });
    await bus.publish(subjects.sessionRevoked, {
      id: newEventId(twentyMinutesAgo),
      sessionId: 'sessOld',
      userId: 'alice',
    });
    // A fresh removal published after them is acted on, so both old ones have been handled by then.
    await bus.publish(subjects.membershipChanged, { id: newEventId(), roomId: r, userId: 'carol', role: null });
    await waitFor(() => carol.closes.length > 0, { timeoutMs: 5000 });
    expect(alice.closes).toEqual([]);
    alice.doc.getArray('messages').push([{ text: 'still a member' }]);
    await waitFor(() => alice.provider.unsyncedChanges === 0);
    expect(alice.closes).toEqual([]);
    alice.destroy();
    carol.destroy();
  });

  it('tells everyone else in the room, and nobody elsewhere, that its members changed: a join and a removal', async () => {
    const [r, elsewhere] = [room(), room()];
    const alice = await t.connect({ name: `room:${r}`, user: 'alice' });
    const bob = await t.connect({ name: `room:${r}`, user: 'bob' });
    const bobElsewhere = await t.connect({ name: `room:${elsewhere}`, user: 'bob' });
    const told = { alice: [] as string[], bob: [] as string[], elsewhere: [] as string[] };
    alice.provider.on('stateless', ({ payload }: { payload: string }) => told.alice.push(payload));
    bob.provider.on('stateless', ({ payload }: { payload: string }) => told.bob.push(payload));
    bobElsewhere.provider.on('stateless', ({ payload }: { payload: string }) => told.elsewhere.push(payload));

    // Carol joins (an invite accepted): both members' clients hear of it, so they can name her messages.
    await bus.publish(subjects.membershipChanged, { id: newEventId(), roomId: r, userId: 'carol', role: 'member' });
    await waitFor(() => told.alice.length === 1 && told.bob.length === 1);
    expect([...told.alice, ...told.bob].every(isMembersMessage)).toBe(true);

    // Bob leaves: his connection closes, Alice hears of it, Bob's other room hears nothing.
    await bus.publish(subjects.membershipChanged, { id: newEventId(), roomId: r, userId: 'bob', role: null });
    await waitFor(() => told.alice.length === 2 && bob.closes.length > 0);
    expect(isMembersMessage(told.alice[1]!)).toBe(true);
    expect(told.bob).toHaveLength(1);
    expect(told.elsewhere).toEqual([]);
    alice.destroy();
    bob.destroy();
    bobElsewhere.destroy();
  });

  it('closes a deleted account’s connections and forgets its private document (its drafts)', async () => {
    const name = 'user:dora';
    const dora = await t.connect({ name, user: 'dora', sid: 'sessDora' });
    dora.doc.getMap('drafts').set('room1', { text: 'unsent words', updatedAt: 1 });
    await dora.acknowledged();
    expect((await t.server.store.load(name)).updates.length).toBeGreaterThan(0);
    const otherUser = await t.connect({ name: 'user:eve', user: 'eve' });
    await bus.publish(subjects.userDeleted, { id: newEventId(), userId: 'dora' });
    await waitFor(() => dora.closes.length > 0, { timeoutMs: 5000 });
    dora.destroy();
    await waitFor(async () => (await t.server.store.load(name)).updates.length === 0, { timeoutMs: 5000 });
    expect(await t.server.store.load(name)).toMatchObject({ snapshot: null, updates: [] });
    expect(otherUser.closes).toEqual([]);
    otherUser.destroy();
  });

  it('closes every connection to a deleted room and deletes its document, and nothing of another room', async () => {
    const [r, other] = [room(), room()];
    const alice = await t.connect({ name: `room:${r}`, user: 'alice' });
    const bob = await t.connect({ name: `room:${r}`, user: 'bob' });
    const elsewhere = await t.connect({ name: `room:${other}`, user: 'bob' });
    alice.doc.getArray('messages').push([{ text: 'about to go' }]);
    elsewhere.doc.getArray('messages').push([{ text: 'stays' }]);
    await alice.acknowledged();
    await elsewhere.acknowledged();
    await bus.publish(subjects.roomDeleted, { id: newEventId(), roomId: r });
    await waitFor(() => alice.closes.length > 0 && bob.closes.length > 0, { timeoutMs: 5000 });
    expect([...alice.closes, ...bob.closes].every((c) => c.reason === 'room_deleted' && c.code === 4410)).toBe(true);
    alice.destroy();
    bob.destroy();
    await waitFor(async () => (await t.server.store.load(`room:${r}`)).updates.length === 0, { timeoutMs: 5000 });
    expect(await t.server.store.load(`room:${r}`)).toMatchObject({ snapshot: null, updates: [] });
    expect((await t.server.store.load(`room:${other}`)).updates).toHaveLength(1);
    expect(elsewhere.closes).toEqual([]);
    elsewhere.destroy();
  });

  it('ignores a malformed auth event, touching no connection, and goes on with the next', async () => {
    const r = room();
    const carl = await t.connect({ name: `room:${r}`, user: 'carl', sid: 'sessCarl' });
    await bus.publish(subjects.membershipChanged, { id: newEventId(), roomId: r, userId: 'carl', role: 'admin' });
    await bus.publish(subjects.roomDeleted, { id: newEventId(), room: r });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(carl.closes).toEqual([]);
    await bus.publish(subjects.sessionRevoked, { id: newEventId(), sessionId: 'sessCarl', userId: 'carl' });
    await waitFor(() => carl.closes.length > 0, { timeoutMs: 5000 });
    carl.destroy();
  });

  it('makes a member demoted to reader read-only at once', async () => {
    const r = room();
    const name = `room:${r}`;
    const alice = await t.connect({ name, user: 'alice' });
    const bob = await t.connect({ name, user: 'bob' });
    const told = { alice: [] as string[], bob: [] as string[] };
    alice.provider.on('stateless', ({ payload }: { payload: string }) => told.alice.push(payload));
    bob.provider.on('stateless', ({ payload }: { payload: string }) => told.bob.push(payload));
    alice.doc.getArray('messages').push([{ text: 'as a member' }]);
    await waitFor(() => texts(bob.doc).length === 1);
    await bus.publish(subjects.membershipChanged, { id: newEventId(), roomId: r, userId: 'alice', role: 'reader' });
    await waitFor(() =>
      t.server.hocuspocus.documents
        .get(name)
        ?.getConnections()
        .some((c) => c.readOnly),
    );
    // Her client is told, so its screen can follow without a reconnect; Bob's, that the members changed.
    await waitFor(() => told.alice.length > 0 && told.bob.length > 0);
    expect(told.alice.map(parseAccessMessage)).toEqual(['reader']);
    expect(told.bob.map(isMembersMessage)).toEqual([true]);
    expect(told.bob.map(parseAccessMessage)).toEqual([null]);
    alice.doc.getArray('messages').push([{ text: 'as a reader' }]);
    bob.doc.getArray('messages').push([{ text: 'bob after' }]);
    await bob.acknowledged();
    await waitFor(() => texts(alice.doc).includes('bob after'));
    expect(texts(bob.doc)).not.toContain('as a reader');
    const stored = await t.server.store.load(name);
    const doc = new Y.Doc();
    for (const u of stored.updates) Y.applyUpdate(doc, u);
    expect(texts(doc).sort()).toEqual(['as a member', 'bob after']);
    alice.destroy();
    bob.destroy();
  });

  it('serves an owner demoted to member, reconnecting with the pre-demotion owner token, as a member', async () => {
    // The real guard, so the role the connection gets is the role the rules apply.
    const guarded = await startTestServer({ database: db, bus, issuer, guard: createConfabGuard() });
    try {
      const r = room();
      const name = `room:${r}`;
      const ownerToken = await issuer.sign({ sub: 'olga', sid: 'sessO', doc: name, role: 'owner' });
      const bob = await guarded.connect({ name, user: 'bob' });
      const bobMessage = message('bob', 'from bob');
      appendMessage(bob.doc, bobMessage);
      await bob.acknowledged();
      const olga = await connectClient(guarded.url, ownerToken, { name, user: 'olga' });
      const contexts = () =>
        (guarded.server.hocuspocus.documents.get(name)?.getConnections() ?? [])
          .map((c) => c.context as { userId: string; role: string })
          .filter((c) => c.userId === 'olga');
      await bus.publish(subjects.membershipChanged, { id: newEventId(), roomId: r, userId: 'olga', role: 'member' });
      // The open connection is demoted in place.
      await waitFor(() => contexts().some((c) => c.role === 'member'));
      olga.destroy();
      await waitFor(() => contexts().length === 0);

      // Reconnecting with the old owner token (still unexpired): accepted, as member.
      const again = await connectClient(guarded.url, ownerToken, { name, user: 'olga' });
      expect(contexts().map((c) => c.role)).toEqual(['member']);
      // An owner could delete bob's message; a member may not: refused (4422), not applied.
      await waitFor(() => again.doc.getArray('messages').length === 1);
      again.doc.getArray('messages').delete(0, 1);
      await waitFor(() => again.closes.some((c) => c.code === 4422));
      const stored = await guarded.server.store.load(name);
      const doc = new Y.Doc();
      if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot);
      for (const u of stored.updates) Y.applyUpdate(doc, u);
      expect(texts(doc)).toEqual(['from bob']);
      again.destroy();
    } finally {
      await guarded.stop();
    }
  });

  it('serves a reader promoted to member, reconnecting with the token from before, as a member who may write', async () => {
    const guarded = await startTestServer({ database: db, bus, issuer, guard: createConfabGuard() });
    try {
      const r = room();
      const name = `room:${r}`;
      const readerToken = await issuer.sign({ sub: 'rita', sid: 'sessR', doc: name, role: 'reader' });
      const rita = await connectClient(guarded.url, readerToken, { name, user: 'rita' });
      const readOnly = () =>
        (guarded.server.hocuspocus.documents.get(name)?.getConnections() ?? [])
          .filter((c) => (c.context as { userId: string }).userId === 'rita')
          .map((c) => c.readOnly);
      expect(readOnly()).toEqual([true]);
      await bus.publish(subjects.membershipChanged, { id: newEventId(), roomId: r, userId: 'rita', role: 'member' });
      await waitFor(() => readOnly().every((ro) => !ro) && readOnly().length === 1);
      rita.destroy();
      await waitFor(() => readOnly().length === 0);

      // Back (a network drop) with the reader token her device still holds: a member, as a fresh token would say.
      // Before, she was a reader again until that token expired, up to 15 minutes.
      const again = await connectClient(guarded.url, readerToken, { name, user: 'rita' });
      expect(readOnly()).toEqual([false]);
      appendMessage(again.doc, message('rita', 'written after the promotion'));
      await again.acknowledged();
      const stored = await guarded.server.store.load(name);
      const doc = new Y.Doc();
      for (const u of stored.updates) Y.applyUpdate(doc, u);
      expect(texts(doc)).toEqual(['written after the promotion']);
      again.destroy();
    } finally {
      await guarded.stop();
    }
  });

  it('accepts a token issued in the same second as a grant (room created, invite accepted)', async () => {
    const r = room();
    const name = `room:${r}`;
    await bus.publish(subjects.membershipChanged, { id: newEventId(), roomId: r, userId: 'quinn', role: 'owner' });
    await bus.publish(subjects.membershipChanged, { id: newEventId(), roomId: r, userId: 'rita', role: 'member' });
    // Issued in the current second, which the change time (in ms) is at or after.
    const ownerToken = await issuer.sign({ sub: 'quinn', doc: name, role: 'owner', iat: nowS() });
    const memberToken = await issuer.sign({ sub: 'rita', doc: name, role: 'member', iat: nowS() });
    // Give the consumer time to record both (it writes before it touches connections; none are open here).
    await waitFor(async () => {
      const rows = await (t.db.database.db as unknown as import('kysely').Kysely<SyncTables>)
        .selectFrom('sync_revocations')
        .select('subject')
        .where('subject', 'in', [`quinn|${r}`, `rita|${r}`])
        .execute();
      return rows.length === 2;
    });
    const quinn = await connectClient(t.url, ownerToken, { name, user: 'quinn' });
    const rita = await connectClient(t.url, memberToken, { name, user: 'rita' });
    quinn.destroy();
    rita.destroy();
  });

  it('still refuses a revoked token after a restart, because the revocation list is in the database', async () => {
    const r = room();
    const token = await issuer.sign({ sub: 'dave', sid: 'sessD', doc: `room:${r}` });
    await bus.publish(subjects.membershipChanged, { id: newEventId(), roomId: r, userId: 'dave', role: null });
    await waitFor(async () => {
      try {
        const c = await connectClient(t.url, token, { name: `room:${r}`, user: 'dave' });
        c.destroy();
        return false;
      } catch {
        return true;
      }
    });
    const restarted = await startTestServer({ database: db, bus: new MemoryBus(), issuer });
    try {
      await expect(connectClient(restarted.url, token, { name: `room:${r}`, user: 'dave' })).rejects.toThrow(
        'authentication failed: forbidden',
      );
    } finally {
      await restarted.stop();
    }
  });
});
