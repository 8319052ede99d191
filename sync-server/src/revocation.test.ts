import { uniqueSuffix, waitFor } from '@confab/platform/testing';
import { newEventId, subjects } from '@confab/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import {
  connectClient,
  openTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from './testing/harness';
import { MemoryBus } from './testing/memory-bus';
import { createTokenIssuer } from './testing/tokens';

const room = () => `r${uniqueSuffix()}`;
const texts = (doc: Y.Doc) =>
  doc
    .getArray<{ text: string }>('messages')
    .toArray()
    .map((m) => m.text);
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

  it('makes a member demoted to reader read-only at once', async () => {
    const r = room();
    const name = `room:${r}`;
    const alice = await t.connect({ name, user: 'alice' });
    const bob = await t.connect({ name, user: 'bob' });
    alice.doc.getArray('messages').push([{ text: 'as a member' }]);
    await waitFor(() => texts(bob.doc).length === 1);
    await bus.publish(subjects.membershipChanged, { id: newEventId(), roomId: r, userId: 'alice', role: 'reader' });
    await waitFor(() =>
      t.server.hocuspocus.documents
        .get(name)
        ?.getConnections()
        .some((c) => c.readOnly),
    );
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
