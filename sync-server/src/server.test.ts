import { uniqueSuffix, waitFor } from '@confab/platform/testing';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import * as Y from 'yjs';
import { NO_CHANGES, type UpdateGuard } from './extensions/guard-port';
import { halfApplicableUpdate } from './guard/test-kit';
import {
  connectClient,
  openTestDatabase,
  PUBLIC_URL,
  startTestServer,
  storedMessageTexts,
  type TestServer,
  messageTexts as texts,
} from './testing/harness';

/**
 * A guard for testing the pipeline around it: refuses any update carrying the
 * text FORBIDDEN and keeps only awareness states of the connection's user.
 * The real rules have their own tests in guard/.
 */
const markerGuard: UpdateGuard = {
  check: (_doc, _document, update) => {
    const { structs } = Y.decodeUpdate(update);
    const bad = structs.some(
      (s) => s instanceof Y.Item && JSON.stringify(s.content.getContent()).includes('FORBIDDEN'),
    );
    return bad ? { ok: false, rule: 'test_marker', detail: 'carries the marker' } : { ok: true, changes: NO_CHANGES };
  },
  filterAwareness: (states, userId) => {
    for (const [clientId, state] of states) {
      if ((state.user as { id?: string } | undefined)?.id !== userId) states.delete(clientId);
    }
  },
};

const room = () => `room:r${uniqueSuffix()}`;
/** Hocuspocus's message type of a sync status (the acknowledgement of an update, or its refusal). */
const SYNC_STATUS = 8;

describe('sync server (SQLite)', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer({ guard: markerGuard });
  });
  afterAll(async () => {
    await t?.stop();
    await t?.db.close();
  });

  it('two clients converge', async () => {
    const name = room();
    const a = await t.connect({ name, user: 'alice' });
    const b = await t.connect({ name, user: 'bob' });
    a.doc.getArray('messages').push([{ text: 'from alice' }]);
    b.doc.getArray('messages').push([{ text: 'from bob' }]);
    await waitFor(() => texts(a.doc).length === 2 && texts(b.doc).length === 2);
    expect(texts(a.doc)).toEqual(texts(b.doc));
    a.destroy();
    b.destroy();
  });

  it('twenty clients writing at once converge on the same room', async () => {
    const name = room();
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => t.connect({ name, user: `user${i}` })));
    clients.forEach((c, i) => {
      c.doc.getArray('messages').push([{ text: `hello from ${i}` }]);
    });
    await waitFor(() => clients.every((c) => texts(c.doc).length === 20), { timeoutMs: 10_000 });
    const first = JSON.stringify(texts(clients[0]!.doc));
    for (const c of clients) expect(JSON.stringify(texts(c.doc))).toBe(first);
    await Promise.all(clients.map((c) => c.acknowledged()));
    expect((await storedMessageTexts(t, name)).sort()).toEqual(texts(clients[0]!.doc).sort());
    for (const c of clients) c.destroy();
  });

  it('an acknowledged update is already in the update log', async () => {
    const name = room();
    const a = await t.connect({ name, user: 'alice' });
    a.doc.getArray('messages').push([{ text: 'durable' }]);
    await a.acknowledged();
    // No waiting: the ack is sent only after the append committed.
    expect(await storedMessageTexts(t, name)).toEqual(['durable']);
    a.destroy();
  });

  it('applies each update once (Hocuspocus’s own apply is skipped), and the writer stays writable and acknowledged', async () => {
    const name = room();
    const a = await t.connect({ name, user: 'alice' });
    const b = await t.connect({ name, user: 'bob' });
    // A first round trip settles the sync handshakes (each provider's sync step 2 is a transaction of its own).
    a.doc.getArray('messages').push([{ text: 'first' }]);
    await a.acknowledged();
    await waitFor(() => texts(b.doc).length === 1);
    const serverDoc = t.server.hocuspocus.documents.get(name)!;
    let transactions = 0;
    serverDoc.on('afterTransaction', () => {
      transactions += 1;
    });
    // Any sync status the writer receives: a negative one (Hocuspocus's answer to a read-only write) must not reach it.
    const statuses: boolean[] = [];
    a.provider.on('message', ({ event }: { event: MessageEvent }) => {
      const decoder = decoding.createDecoder(new Uint8Array(event.data as ArrayBuffer));
      decoding.readVarString(decoder); // the document's address
      if (decoding.readVarUint(decoder) === SYNC_STATUS) statuses.push(decoding.readVarInt(decoder) === 1);
    });
    for (let i = 0; i < 5; i++) {
      a.doc.getArray('messages').push([{ text: `once ${i}` }]);
      await a.acknowledged();
    }
    await waitFor(() => texts(b.doc).length === 6);
    expect(transactions).toBe(5);
    expect(statuses).not.toContain(false);
    for (const connection of serverDoc.getConnections()) expect(connection.readOnly).toBe(false);
    expect(await storedMessageTexts(t, name)).toEqual(['first', 'once 0', 'once 1', 'once 2', 'once 3', 'once 4']);
    a.destroy();
    b.destroy();
  });

  it('refuses a forbidden update: closed with forbidden_update, not applied, not stored, seen by no one', async () => {
    const name = room();
    const watcher = await t.connect({ name, user: 'bob' });
    const evil = await t.connect({ name, user: 'mallory' });
    const refusedBefore = await refusals('test_marker');
    evil.doc.getArray('messages').push([{ text: 'FORBIDDEN payload' }]);
    await waitFor(() => evil.closes.some((c) => c.code === 4422), { message: 'close 4422' });
    expect(evil.closes.find((c) => c.code === 4422)?.reason).toBe('forbidden_update');
    evil.destroy();
    // The legitimate twin, sent after, arrives and is stored: the room was not stalled.
    const good = await t.connect({ name, user: 'alice' });
    good.doc.getArray('messages').push([{ text: 'legitimate' }]);
    await good.acknowledged();
    await waitFor(() => texts(watcher.doc).includes('legitimate'));
    expect(texts(watcher.doc)).toEqual(['legitimate']);
    expect(texts(t.server.hocuspocus.documents.get(name)!)).toEqual(['legitimate']);
    expect(await storedMessageTexts(t, name)).toEqual(['legitimate']);
    expect(await refusals('test_marker')).toBe(refusedBefore + 1);
    watcher.destroy();
    good.destroy();
  });

  it('closes every connection to a room when an update the guard let through fails to apply halfway', async () => {
    // The pass-through guard stands for a guard with a hole: Yjs integrates the section of client 5000,
    // then throws on client 3000's origin, a later clock of its own. What it integrated was relayed, never logged.
    const name = room();
    const bob = await t.connect({ name, user: 'bob' });
    const alice = await t.connect({ name, user: 'alice' });
    bob.doc.getArray('messages').push([{ text: 'first' }]);
    await bob.acknowledged();
    const serverDoc = t.server.hocuspocus.documents.get(name)!;
    const first = (serverDoc.getArray('messages') as unknown as { _start: Y.Item })._start.id;
    const update = halfApplicableUpdate(first, [
      { text: 'integrated, then dropped' },
      { text: 'forward' },
      { text: 'never' },
    ]);
    const frame = encoding.createEncoder();
    encoding.writeVarString(frame, name);
    encoding.writeVarUint(frame, 0); // Sync
    encoding.writeVarUint(frame, 2); // Update
    encoding.writeVarUint8Array(frame, update);
    alice.provider.configuration.websocketProvider.send(encoding.toUint8Array(frame));
    await waitFor(() => alice.closes.some((c) => c.reason === 'forbidden_update'), { message: 'sender closed 4422' });
    await waitFor(() => bob.closes.some((c) => c.code === 1013 && c.reason === 'try_again_later'), {
      message: 'the other member closed 1013',
    });
    alice.destroy();
    bob.destroy();
    // The document unloads, dropping what ran ahead of the log; what is stored is what was acknowledged.
    await waitFor(() => !t.server.hocuspocus.documents.has(name), { message: 'document unloaded' });
    expect(await storedMessageTexts(t, name)).toEqual(['first']);
  });

  async function refusals(rule: string): Promise<number> {
    return updatesCounted('refused', rule);
  }

  async function updatesCounted(result: string, rule: string): Promise<number> {
    const metric = await t.registry.getSingleMetric('confab_sync_updates_total')?.get();
    return metric?.values.find((v) => v.labels.result === result && v.labels.rule === rule)?.value ?? 0;
  }

  async function storesTimed(): Promise<number> {
    const metric = await t.registry.getSingleMetric('confab_sync_store_seconds')?.get();
    // A histogram's values are its buckets, sum and count, told apart by metricName.
    const count = metric?.values.find(
      (v) => (v as { metricName?: string }).metricName === 'confab_sync_store_seconds_count',
    );
    return count?.value ?? 0;
  }

  it('counts each accepted update once in confab_sync_updates_total, and times its store', async () => {
    const name = room();
    const a = await t.connect({ name, user: 'alice' });
    const acceptedBefore = await updatesCounted('accepted', '');
    const storesBefore = await storesTimed();
    for (let i = 0; i < 3; i++) {
      a.doc.getArray('messages').push([{ text: `counted ${i}` }]);
      await a.acknowledged();
    }
    expect(await updatesCounted('accepted', '')).toBe(acceptedBefore + 3);
    // Read twice: what the scrape added is not added again.
    expect(await updatesCounted('accepted', '')).toBe(acceptedBefore + 3);
    expect(await storesTimed()).toBe(storesBefore + 3);
    a.destroy();
  });

  it('readers cannot write: their change reaches no one and is not stored', async () => {
    const name = room();
    const member = await t.connect({ name, user: 'alice' });
    member.doc.getArray('messages').push([{ text: 'by the member' }]);
    await member.acknowledged();
    const reader = await t.connect({ name, user: 'rita', role: 'reader' });
    expect(texts(reader.doc)).toEqual(['by the member']);
    reader.doc.getArray('messages').push([{ text: 'by the reader' }]);
    member.doc.getArray('messages').push([{ text: 'later by the member' }]);
    await member.acknowledged();
    await waitFor(() => texts(reader.doc).includes('later by the member'));
    expect(texts(member.doc)).not.toContain('by the reader');
    expect(await storedMessageTexts(t, name)).toEqual(['by the member', 'later by the member']);
    reader.destroy();
    member.destroy();
  });

  it('refuses a token for another document, an expired one, a garbage one and another user’s private document', async () => {
    const name = room();
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, string, string]> = [
      [name, await t.sign({ sub: 'alice', doc: 'room:elsewhere' }), 'forbidden'],
      [name, await t.sign({ sub: 'alice', doc: name, iat: now - 1000, exp: now - 100 }), 'unauthorized'],
      [name, 'not.a.token', 'unauthorized'],
      [name, await t.sign({ sub: 'alice', doc: name, iat: now, exp: now + 3600 }), 'unauthorized'],
      ['user:bob', await t.sign({ sub: 'alice', doc: 'user:bob' }), 'forbidden'],
    ];
    for (const [doc, token, reason] of cases) {
      await expect(connectClient(t.url, token, { name: doc, user: 'alice' })).rejects.toThrow(
        `authentication failed: ${reason}`,
      );
    }
    // Forged: signed by another key.
    const other = await (await import('./testing/tokens')).createTokenIssuer();
    await expect(
      connectClient(t.url, await other.sign({ sub: 'alice', doc: name }), { name, user: 'alice' }),
    ).rejects.toThrow('authentication failed: unauthorized');
    expect(t.server.hocuspocus.documents.has(name)).toBe(false);
    const own = await t.connect({ name: 'user:alice', user: 'alice' });
    own.destroy();
  });

  it('tells a client with an unsupported protocol version to upgrade (4426)', async () => {
    const ws = new WebSocket(`${t.url}?protocolVersion=99`);
    const close = await new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    expect(close).toEqual({ code: 4426, reason: 'upgrade_required' });
  });

  it('refuses a WebSocket upgrade from a foreign browser origin, allows PUBLIC_URL’s and none', async () => {
    const attempt = (headers: Record<string, string>) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`${t.url}?protocolVersion=1`, { headers });
        ws.on('open', () => {
          ws.close();
          resolve('open');
        });
        ws.on('unexpected-response', (_req, res) => resolve(`http ${res.statusCode}`));
        ws.on('error', () => {});
      });
    expect(await attempt({ Origin: 'https://evil.example' })).toBe('http 403');
    expect(await attempt({ Origin: 'null' })).toBe('http 403');
    expect(await attempt({ Origin: PUBLIC_URL })).toBe('open');
    expect(await attempt({})).toBe('open');
  });

  it('closes a connection that sends a message over 1 MiB with 1009', async () => {
    const ws = new WebSocket(`${t.url}?protocolVersion=1`);
    await new Promise((resolve) => ws.on('open', resolve));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('error', () => {});
    ws.send(new Uint8Array(1024 * 1024 + 16));
    expect(await closed).toBe(1009);
  });

  it('drops awareness states that claim to be another user', async () => {
    const name = room();
    const a = await t.connect({ name, user: 'alice' });
    const b = await t.connect({ name, user: 'bob' });
    const seenByAlice: string[] = [];
    a.provider.awareness!.on('change', () => {
      const state = a.provider.awareness!.getStates().get(b.doc.clientID);
      if (state?.user) seenByAlice.push(state.user.displayName);
    });
    b.provider.setAwarenessField('user', { id: 'alice', displayName: 'not really alice' });
    // An acknowledged update sent after it proves the server has handled (and would have relayed) that state.
    b.doc.getArray('messages').push([{ text: 'sync point' }]);
    await b.acknowledged();
    b.provider.setAwarenessField('user', { id: 'bob', displayName: 'Bob' });
    await waitFor(() => seenByAlice.includes('Bob'));
    expect(seenByAlice).not.toContain('not really alice');
    a.destroy();
    b.destroy();
  });

  it('unloads a room when its last connection leaves', async () => {
    const name = room();
    const a = await t.connect({ name, user: 'alice' });
    a.doc.getArray('messages').push([{ text: 'x' }]);
    await a.acknowledged();
    expect(t.server.hocuspocus.documents.has(name)).toBe(true);
    // The pipeline's apply skips Hocuspocus's store hooks: no store is waiting to run, so nothing holds the room.
    expect(t.server.hocuspocus.debouncer.isDebounced(`onStoreDocument-${name}`)).toBe(false);
    a.destroy();
    await waitFor(() => !t.server.hocuspocus.documents.has(name), { timeoutMs: 5000 });
  });

  it('serves /healthz, /readyz and /metrics with the sync metrics', async () => {
    const base = t.url.replace('ws://', 'http://').replace('/sync', '');
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', services: { 'sync-server': true } });
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const name of [
      'confab_sync_connections',
      'confab_sync_documents_loaded',
      'confab_sync_updates_total',
      'confab_sync_store_seconds',
      'confab_sync_compactions_total',
      'confab_sync_outbox_depth',
      'confab_sync_sqlite_busy_retries_total',
      'confab_sync_sqlite_checkpoints_total',
    ]) {
      expect(text).toContain(name);
    }
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'not_found', message: 'no such endpoint' } });
  });
});

describe('a document that fails to load', () => {
  it('is refused instead of served empty, and its stored data is left as it was', async () => {
    const db = await openTestDatabase('sqlite');
    const t = await startTestServer({ database: db });
    const name = room();
    const a = await t.connect({ name, user: 'alice' });
    a.doc.getArray('messages').push([{ text: 'precious' }]);
    await a.acknowledged();
    a.destroy();
    await waitFor(() => !t.server.hocuspocus.documents.has(name));
    // Corrupt the log row so loading throws.
    const kysely = db.database.db as unknown as import('kysely').Kysely<import('./storage/schema').SyncTables>;
    const before = await kysely
      .selectFrom('sync_updates')
      .select(['seq', 'update'])
      .where('document', '=', name)
      .execute();
    await kysely
      .updateTable('sync_updates')
      .set({ update: Buffer.from([255, 255, 255, 255, 1]) })
      .where('document', '=', name)
      .execute();
    const fresh = new Y.Doc();
    await expect(t.connect({ name, user: 'bob', document: fresh })).rejects.toThrow(
      'authentication failed: try_again_later',
    );
    expect(t.server.hocuspocus.documents.has(name)).toBe(false);
    const after = await kysely.selectFrom('sync_updates').select(['seq']).where('document', '=', name).execute();
    expect(after.map((r) => r.seq)).toEqual(before.map((r) => r.seq));
    await t.stop();
    await db.close();
  });
});
