import { uniqueSuffix, waitFor } from '@confab/platform/testing';
import { appendMessage, newMessageId, type UserId } from '@confab/protocol';
import * as decoding from 'lib0/decoding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { MAX_DEFERRED_UPDATES } from './extensions/update-pipeline';
import { startTestServer, storedMessageTexts, type TestServer, messageTexts as texts } from './testing/harness';

/** A Hocuspocus document update (Sync message, update type), as the provider sends each local change. */
function isDocumentUpdate(data: unknown): boolean {
  if (!(data instanceof Uint8Array)) return false;
  const decoder = decoding.createDecoder(data);
  decoding.readVarString(decoder);
  return decoding.readVarUint(decoder) === 0 && decoding.readVarUint(decoder) === 2;
}

/**
 * A client socket that loses the next `lose` document updates it sends, as they are lost when a
 * server closes a connection with them still queued: the provider has sent them and goes on.
 * With `answerSyncs: false` it also loses the sync answers (a client that never answers a resync).
 */
function lossySocket() {
  const state = { lose: 0, lost: 0, answerSyncs: true };
  class LossyWebSocket extends WebSocket {
    // biome-ignore lint/suspicious/noExplicitAny: ws's send has two overloads; this forwards either.
    override send(...args: any[]): void {
      const [data] = args;
      if (state.lose > 0 && isDocumentUpdate(data)) {
        state.lose -= 1;
        state.lost += 1;
        return;
      }
      if (!state.answerSyncs && data instanceof Uint8Array) {
        const decoder = decoding.createDecoder(data);
        decoding.readVarString(decoder);
        if (decoding.readVarUint(decoder) === 0 && decoding.readVarUint(decoder) === 1) return;
      }
      (super.send as (...forwarded: unknown[]) => void)(...args);
    }
  }
  return { state, LossyWebSocket };
}

describe('an update that builds on changes the server never got', () => {
  let t: TestServer;

  beforeAll(async () => {
    // A burst below MAX_DEFERRED_UPDATES, refilled fast: the deferral bound, not the rate limiter, ends a silent client.
    t = await startTestServer({
      guard: undefined,
      env: { SYNC_MAX_UPDATES_PER_SECOND: '10000', SYNC_UPDATE_BURST: '10' },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await t?.db.close();
  });

  /**
   * Alice writes `written` changes at once over a per-connection burst of `burst` (rate 1/s): the socket is closed
   * (4429) and Hocuspocus drops what that connection had queued behind it. The `whileAway` changes the app writes
   * while it reconnects wait in the provider's queue, go out as soon as the socket opens, before the provider's
   * sync, and build on the dropped updates. Every change must reach Bob and storage, with no other close.
   */
  async function overTheLimitAndBack(burst: number, written: number, whileAway: number): Promise<void> {
    const limited = await startTestServer({
      guard: undefined,
      env: { SYNC_MAX_UPDATES_PER_SECOND: '1', SYNC_UPDATE_BURST: String(burst) },
    });
    try {
      const name = `room:r${uniqueSuffix()}`;
      const alice = await limited.connect({ name, user: 'alice' });
      const bob = await limited.connect({ name, user: 'bob' });
      const write = (text: string) =>
        appendMessage(alice.doc, { id: newMessageId(), author: 'alice' as UserId, text, createdAt: Date.now() });

      const first = Array.from({ length: written }, (_, i) => `burst ${i}`);
      for (const text of first) write(text);
      await waitFor(() => alice.closes.length === 1, { message: 'alice over the rate limit' });
      const away = Array.from({ length: whileAway }, (_, i) => `while away ${i}`);
      for (const text of away) write(text);

      const all = [...first, ...away];
      await waitFor(() => texts(bob.doc).length === all.length, {
        message: 'bob has every message',
        timeoutMs: 15_000,
      });
      await alice.acknowledged();
      // Before: the reconnected socket was closed with forbidden_update ("depends on changes the server does
      // not have"), which the web client takes for a broken room rule: it stops syncing the room.
      expect(alice.closes.map((c) => c.reason)).toEqual(['rate_limited']);
      expect(texts(bob.doc)).toEqual(all);
      expect(await storedMessageTexts(limited, name)).toEqual(all);
      const metrics = await limited.registry.getSingleMetricAsString('confab_sync_updates_total');
      expect(metrics).toMatch(/result="deferred",rule="missing_dependencies"\} [1-9]/);
      alice.destroy();
      bob.destroy();
    } finally {
      await limited.stop();
      await limited.db.close();
    }
  }

  it('is held while the client is asked to sync, not refused: a client over the rate limit catches up without being cut off', async () => {
    await overTheLimitAndBack(6, 10, 3);
  });

  it('lets a whole burst of changes written while reconnecting wait for the resync: a fast writer is not refused', async () => {
    // 100 changes at once after the reconnect, all within the burst of 150. With a fixed bound of 64 deferred
    // updates the 65th was refused with forbidden_update (deferredUpdateBound now takes the burst into account).
    await overTheLimitAndBack(150, 151, 100);
  });

  it(`refuses the connection once ${MAX_DEFERRED_UPDATES} such updates wait and the client does not answer`, async () => {
    const name = `room:r${uniqueSuffix()}`;
    const { state, LossyWebSocket } = lossySocket();
    const alice = await t.connect({ name, user: 'alice', WebSocketPolyfill: LossyWebSocket });
    state.lose = 1;
    state.answerSyncs = false;
    for (let i = 0; i <= MAX_DEFERRED_UPDATES + 1; i++) {
      appendMessage(alice.doc, { id: newMessageId(), author: 'alice' as UserId, text: `m${i}`, createdAt: i });
      // Paced so the rate limiter (a burst of 10, refilled fast) lets each through: the deferral bound ends it.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await waitFor(() => alice.closes.length > 0, { message: 'alice closed' });
    expect(alice.closes[0]).toMatchObject({ code: 4422, reason: 'forbidden_update' });
    expect(await storedMessageTexts(t, name)).toEqual([]);
    alice.destroy();
  });
});
