import { uniqueSuffix, waitFor } from '@confab/platform/testing';
import { appendMessage, newMessageId, type UserId } from '@confab/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncContext } from './extensions/context';
import { connectClient, startTestServer, type TestServer } from './testing/harness';

const nowS = () => Math.floor(Date.now() / 1000);

describe('tokens of long-lived connections', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ guard: undefined, extra: { tokenExpiryGraceMs: 300 } });
  });
  afterAll(async () => {
    await t?.stop();
    await t?.db.close();
  });

  it('asks the client for a fresh token before the current one expires, and keeps the connection', async () => {
    const name = `room:r${uniqueSuffix()}`;
    let calls = 0;
    // The first token has two seconds left; every later call returns a fresh one, as a token broker would.
    const token = async () => {
      calls++;
      const iat = calls === 1 ? nowS() - 15 * 60 + 2 : nowS();
      return t.sign({ sub: 'alice', doc: name, iat, exp: iat + 15 * 60 });
    };
    const alice = await connectClient(t.url, token, { name, user: 'alice' });
    await waitFor(() => calls >= 2, { message: 'a token renewal' });
    const context = () => t.server.hocuspocus.documents.get(name)?.getConnections()[0]?.context as SyncContext;
    await waitFor(() => context().tokenExpiresAtMs > Date.now() + 10 * 60_000);
    await new Promise((resolve) => setTimeout(resolve, 2500)); // past the first token's expiry and the grace
    expect(alice.documentCloses).toEqual([]);
    appendMessage(alice.doc, { id: newMessageId(), author: 'alice' as UserId, text: 'still here', createdAt: 1 });
    await alice.acknowledged();
    alice.destroy();
  });

  it('closes a connection whose token expired without renewal with unauthorized', async () => {
    const name = `room:r${uniqueSuffix()}`;
    const iat = nowS() - 15 * 60 + 2;
    const stale = await t.sign({ sub: 'alice', doc: name, iat, exp: iat + 15 * 60 });
    const alice = await connectClient(t.url, stale, { name, user: 'alice' });
    await waitFor(() => alice.documentCloses.includes('unauthorized'), { timeoutMs: 6000 });
    alice.destroy();
  });
});
