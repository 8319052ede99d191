import { describe, expect, it } from 'vitest';
import type { ApiResult, SyncToken } from './api';
import { createTokenBroker } from './token-broker';

function fakeAuth(options: { deny?: string[]; status?: number } = {}) {
  const calls: { kind: 'one' | 'many'; documents: string[] }[] = [];
  let serial = 0;
  const grant = (doc: string): SyncToken => ({ token: `t${++serial}:${doc}`, expiresAt: 1_000_000 });
  return {
    calls,
    fetchOne: async (document: string): Promise<ApiResult<SyncToken>> => {
      calls.push({ kind: 'one', documents: [document] });
      if (options.status !== undefined)
        return { ok: false, status: options.status, code: 'unauthenticated', message: 'no' };
      if (options.deny?.includes(document)) return { ok: false, status: 403, code: 'forbidden', message: 'no' };
      return { ok: true, status: 200, data: grant(document) };
    },
    fetchMany: async (documents: string[]): Promise<ApiResult<{ tokens: Record<string, SyncToken> }>> => {
      calls.push({ kind: 'many', documents });
      if (options.status !== undefined) return { ok: false, status: options.status, code: 'offline', message: 'no' };
      const tokens: Record<string, SyncToken> = {};
      for (const d of documents) if (!options.deny?.includes(d)) tokens[d] = grant(d);
      return { ok: true, status: 200, data: { tokens } };
    },
  };
}

describe('token broker', () => {
  it('asks for the tokens of many documents requested together in one batch call', async () => {
    const auth = fakeAuth();
    const broker = createTokenBroker({ ...auth, now: () => 0 });
    const docs = Array.from({ length: 5 }, (_, i) => `room:r${i}`);
    const outcomes = await Promise.all(docs.map((d) => broker.get(d)));
    expect(auth.calls).toEqual([{ kind: 'many', documents: docs }]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
  });

  it('splits more than 100 documents into calls of at most 100', async () => {
    const auth = fakeAuth();
    const broker = createTokenBroker({ ...auth, now: () => 0 });
    const docs = Array.from({ length: 150 }, (_, i) => `room:r${i}`);
    await Promise.all(docs.map((d) => broker.get(d)));
    expect(auth.calls.map((c) => c.documents.length)).toEqual([100, 50]);
  });

  it('reuses a token until it is close to expiry, then fetches a new one', async () => {
    const auth = fakeAuth();
    let nowMs = 0;
    const broker = createTokenBroker({ ...auth, now: () => nowMs, refreshMarginMs: 30_000 });
    const first = await broker.get('room:a');
    const again = await broker.get('room:a');
    expect(again).toEqual(first);
    expect(auth.calls).toHaveLength(1);
    nowMs = 1_000_000 - 29_000;
    const renewed = await broker.get('room:a');
    expect(renewed).not.toEqual(first);
    expect(auth.calls).toHaveLength(2);
  });

  it('fetches a new token after the server refused the cached one', async () => {
    const auth = fakeAuth();
    const broker = createTokenBroker({ ...auth, now: () => 0 });
    const first = await broker.get('room:a');
    broker.invalidate('room:a');
    expect(await broker.get('room:a')).not.toEqual(first);
  });

  it('reports a document left out of the batch answer as forbidden', async () => {
    const auth = fakeAuth({ deny: ['room:secret'] });
    const broker = createTokenBroker({ ...auth, now: () => 0 });
    const [open, secret] = await Promise.all([broker.get('room:open'), broker.get('room:secret')]);
    expect(open.ok).toBe(true);
    expect(secret).toEqual({ ok: false, reason: 'forbidden' });
  });

  it('reports a 401 as signed out and a network failure as offline', async () => {
    const signedOut = createTokenBroker({ ...fakeAuth({ status: 401 }), now: () => 0 });
    expect(await signedOut.get('room:a')).toEqual({ ok: false, reason: 'signed_out' });
    const offline = createTokenBroker({ ...fakeAuth({ status: 0 }), now: () => 0 });
    expect(await Promise.all([offline.get('room:a'), offline.get('room:b')])).toEqual([
      { ok: false, reason: 'offline' },
      { ok: false, reason: 'offline' },
    ]);
  });
});
