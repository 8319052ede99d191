import { uniqueSuffix, waitFor } from '@confab/platform/testing';
import { appendMessage, deleteMessage, type MessageId, newMessageId, type UserId } from '@confab/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { startTestServer, type TestServer } from './testing/harness';

describe('compaction in the running server', () => {
  let t: TestServer;

  beforeAll(async () => {
    // A small threshold so a few messages cross it.
    t = await startTestServer({
      guard: undefined,
      // A burst as large as the checkpoint test's 260 messages: this file tests storage, not the rate limit.
      env: { SYNC_COMPACT_MIN_BYTES: '2048', SYNC_UPDATE_BURST: '1000' },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await t?.db.close();
  });

  const compactions = async () =>
    (await t.registry.getSingleMetric('confab_sync_compactions_total')?.get())?.values.find(
      (v) => v.labels.result === 'done',
    )?.value ?? 0;

  it('folds the log into a snapshot once it passes the threshold, and the room loads the same', async () => {
    const name = `room:r${uniqueSuffix()}`;
    const alice = await t.connect({ name, user: 'alice' });
    const before = await compactions();
    for (let i = 0; i < 40; i++) {
      appendMessage(alice.doc, {
        id: newMessageId(),
        author: 'alice' as UserId,
        text: `message ${i} ${'x'.repeat(60)}`,
        createdAt: i,
      });
      await alice.acknowledged();
    }
    await waitFor(async () => (await compactions()) > before);
    const stored = await t.server.store.load(name);
    expect(stored.snapshot).not.toBeNull();
    // The log holds only what came after the last compaction, far below the 40 rows written.
    expect(stored.updates.length).toBeLessThan(40);
    alice.destroy();
    await waitFor(() => !t.server.hocuspocus.documents.has(name));
    const again = await t.connect({ name, user: 'bob' });
    expect(again.doc.getArray('messages').length).toBe(40);
    again.destroy();
  });

  it('removes a deleted message’s text from storage soon after the deletion', async () => {
    const name = `room:r${uniqueSuffix()}`;
    const alice = await t.connect({ name, user: 'alice' });
    const secret = newMessageId() as MessageId;
    appendMessage(alice.doc, { id: secret, author: 'alice' as UserId, text: 'a secret to take back', createdAt: 1 });
    appendMessage(alice.doc, { id: newMessageId(), author: 'alice' as UserId, text: 'this stays', createdAt: 2 });
    await alice.acknowledged();
    deleteMessage(alice.doc, secret);
    await alice.acknowledged();
    const storedBytes = async () => {
      const stored = await t.server.store.load(name);
      return Buffer.concat([stored.snapshot ?? new Uint8Array(), ...stored.updates]);
    };
    await waitFor(async () => !(await storedBytes()).includes('a secret to take back'), { timeoutMs: 6000 });
    const doc = new Y.Doc();
    const stored = await t.server.store.load(name);
    if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot);
    for (const u of stored.updates) Y.applyUpdate(doc, u);
    expect(
      doc
        .getArray<{ text: string }>('messages')
        .toArray()
        .map((m) => m.text),
    ).toEqual(['this stays']);
    alice.destroy();
  });

  it("hands SQLite's checkpoints to the merge thread every 256 commits, and says so in /metrics", async () => {
    const name = `room:r${uniqueSuffix()}`;
    const alice = await t.connect({ name, user: 'alice' });
    const metric = async (labels: string) => {
      const line = (await t.registry.metrics()).split('\n').find((l) => l.startsWith(`confab_sync_sqlite_${labels}`));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    };
    const before = (await metric('checkpoints_total{by="merge_thread"}')) ?? 0;
    // One commit per acknowledged message: 260 of them cross the 256-commit mark at least once.
    for (let i = 0; i < 260; i++) {
      appendMessage(alice.doc, { id: newMessageId(), author: 'alice' as UserId, text: `m${i}`, createdAt: i });
      await alice.acknowledged();
    }
    expect(await metric('checkpoints_total{by="merge_thread"}')).toBeGreaterThan(before);
    // None fell back to the event loop, and the busy-retry count is exposed.
    expect((await metric('checkpoints_total{by="event_loop"}')) ?? 0).toBe(0);
    expect(await metric('busy_retries_total')).toBeGreaterThanOrEqual(0);
    alice.destroy();
  });
});
