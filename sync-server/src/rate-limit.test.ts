import { uniqueSuffix, waitFor } from '@confab/platform/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { startTestServer, storedMessageTexts, type TestServer } from './testing/harness';

const room = () => `room:rl${uniqueSuffix()}`;

async function rateLimitedCount(t: TestServer, scope: 'connection' | 'user'): Promise<number> {
  const metric = await t.registry.getSingleMetric('confab_sync_rate_limited_total')?.get();
  return metric?.values.find((v) => v.labels.scope === scope)?.value ?? 0;
}

describe('update rate limit (real providers)', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer({
      env: {
        SYNC_MAX_UPDATES_PER_SECOND: '2',
        SYNC_UPDATE_BURST: '10',
        SYNC_USER_MAX_UPDATES_PER_SECOND: '2',
        SYNC_USER_UPDATE_BURST: '15',
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
    // Its database file too (a temporary directory, removed on close).
    await t?.db.close();
  });

  it('closes a connection that sends more updates than its burst with 4429 rate_limited, and loses nothing', async () => {
    const name = room();
    const alice = await t.connect({ name, user: 'alice' });
    const before = await rateLimitedCount(t, 'connection');
    // Read the log the moment the socket closes, before the provider's reconnect (≥ 50 ms later) resends anything.
    let atClosePromise: Promise<string[]> | undefined;
    alice.provider.configuration.websocketProvider.on('close', () => {
      atClosePromise ??= storedMessageTexts(t, name);
    });
    // One transaction each: 30 separate update messages, well past the burst of 10.
    for (let i = 0; i < 30; i++) alice.doc.getArray('messages').push([{ text: `m${i}` }]);
    await waitFor(() => alice.closes.some((c) => c.code === 4429));
    expect(alice.closes.find((c) => c.code === 4429)).toEqual({ code: 4429, reason: 'rate_limited' });
    expect(await rateLimitedCount(t, 'connection')).toBe(before + 1);
    // The refused update and those after it were not applied...
    const atClose = (await atClosePromise) ?? [];
    expect(atClose.length).toBeLessThan(30);
    expect(atClose.length).toBeGreaterThanOrEqual(10);
    // ...and the provider reconnects and sends them again as one sync step 2, which the bucket lets through.
    await waitFor(async () => (await storedMessageTexts(t, name)).length === 30, { timeoutMs: 10_000 });
    expect(await storedMessageTexts(t, name)).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`));
  });

  it('lets a device flush a large offline queue: it arrives as one update', async () => {
    const name = room();
    const offline = new Y.Doc();
    for (let i = 0; i < 500; i++) offline.getArray('messages').push([{ text: `offline ${i}` }]);
    const bob = await t.connect({ name, user: 'bob', document: offline });
    await waitFor(async () => (await storedMessageTexts(t, name)).length === 500);
    // A human pace afterwards is never limited.
    for (let i = 0; i < 5; i++) {
      bob.doc.getArray('messages').push([{ text: `online ${i}` }]);
      await bob.acknowledged();
    }
    expect(bob.closes).toEqual([]);
    expect((await storedMessageTexts(t, name)).length).toBe(505);
  });

  it('counts a user’s updates across their connections, so more documents do not buy more updates', async () => {
    const [r1, r2] = [room(), room()];
    const c1 = await t.connect({ name: r1, user: 'carol' });
    const c2 = await t.connect({ name: r2, user: 'carol' });
    const dave = await t.connect({ name: r1, user: 'dave' });
    const before = await rateLimitedCount(t, 'user');
    const beforePerConnection = await rateLimitedCount(t, 'connection');
    // 9 + 9 stays under each connection's burst of 10 but exceeds carol's burst of 15.
    for (let i = 0; i < 9; i++) c1.doc.getArray('messages').push([{ text: `a${i}` }]);
    for (let i = 0; i < 9; i++) c2.doc.getArray('messages').push([{ text: `b${i}` }]);
    await waitFor(() => c2.closes.some((c) => c.code === 4429));
    // The user's bucket closed it (the provider may reconnect and be refused again before we look),
    // not a connection's: neither connection went past its own burst.
    expect(await rateLimitedCount(t, 'user')).toBeGreaterThan(before);
    expect(await rateLimitedCount(t, 'connection')).toBe(beforePerConnection);
    // Another user in the same room is not affected.
    dave.doc.getArray('messages').push([{ text: 'dave' }]);
    await dave.acknowledged();
    expect(dave.closes).toEqual([]);
  });
});
