import 'fake-indexeddb/auto';
import { waitFor } from '@confab/platform/testing';
import { appendMessage, CLOSE, type DocumentName, type MessageId, readMessages, type UserId } from '@confab/protocol';
import { Server } from '@hocuspocus/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountCache, type KeyValueStorage } from './account-cache';
import type { ApiResult, SyncToken } from './api';
import { createSyncClient, type DocStatus, explainClose, type SyncClient } from './sync-client';
import { createTokenBroker } from './token-broker';

/**
 * The sync layer against a real Hocuspocus server on port 0. Tokens are
 * plain strings here (`ok:<doc>:<n>`); the server refuses the documents and
 * tokens each test names, the way Confab's sync server does with close reasons.
 */
const refusals = new Map<string, string>();
/** Changes carrying `store-fails` that the server fails to store, the next so many times. */
let storeFailures = 0;
/**
 * Documents the server cannot open for their next `failures` tries, the way Confab's sync server refuses
 * a room whose load failed (persistence.ts: a CloseError with try_again_later thrown from
 * onLoadDocument, which Hocuspocus sends as the authentication's PermissionDenied reason, right after
 * it said Authenticated), or from onAuthenticate. Every try is noted with its time and token.
 */
const unavailable = new Map<string, { hook: 'onLoadDocument' | 'onAuthenticate'; failures: number }>();
const tries = new Map<string, { at: number; token: string }[]>();
const tryAgainLater = () => Object.assign(new Error('document failed to load'), CLOSE.tryAgainLater);
function refuseIfUnavailable(documentName: string, hook: 'onLoadDocument' | 'onAuthenticate'): void {
  const entry = unavailable.get(documentName);
  if (entry?.hook !== hook || entry.failures === 0) return;
  entry.failures--;
  throw tryAgainLater();
}
let issued = 0;
const server = new Server({
  port: 0,
  quiet: true,
  stopOnSignals: false,
  // Stands in for the room guard: a change carrying this marker breaks a rule, and the
  // whole shared socket is closed with forbidden_update, as Confab's sync server does.
  async beforeSync({ payload, connection }) {
    if (Buffer.from(payload).includes('breaks-a-rule')) {
      connection.webSocket.close(CLOSE.forbiddenUpdate.code, CLOSE.forbiddenUpdate.reason);
      throw new Error('refused');
    }
    // Stands in for a failed append (update-pipeline.ts): nothing is acknowledged and the socket is
    // closed with try_again_later (1013).
    if (storeFailures > 0 && Buffer.from(payload).includes('store-fails')) {
      storeFailures--;
      connection.webSocket.close(CLOSE.tryAgainLater.code, CLOSE.tryAgainLater.reason);
      throw new Error('not stored');
    }
  },
  // As Confab's sync server does (createConfabGuard): an awareness message still queued behind its
  // connection's close claims nothing. Stock Hocuspocus applies it after it removed the connection's
  // states, so the user who left shows again as a state no connection owns, and nobody sees them leave.
  async beforeHandleAwareness({ states, connection, document }) {
    if (connection && !document.hasConnection(connection)) states.clear();
  },
  async onAuthenticate({ token, documentName }) {
    tries.get(documentName)?.push({ at: Date.now(), token });
    const reason = refusals.get(documentName) ?? refusals.get(token);
    if (reason) throw { reason };
    if (!token.startsWith(`ok:${documentName}:`)) throw { reason: CLOSE.unauthorized.reason };
    refuseIfUnavailable(documentName, 'onAuthenticate');
  },
  async onLoadDocument({ documentName }) {
    refuseIfUnavailable(documentName, 'onLoadDocument');
  },
});

function memoryStorage(): KeyValueStorage {
  const map = new Map<string, string>();
  return {
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
    key: (i) => [...map.keys()][i] ?? null,
    get length() {
      return map.size;
    },
  };
}

function device(
  userId: string,
  options: {
    url?: string;
    storage?: KeyValueStorage;
    idleCloseMs?: number;
    tryAgainDelayMs?: (failures: number) => number;
  } = {},
) {
  const tokenCalls: string[][] = [];
  const grant = (doc: string): SyncToken => ({ token: `ok:${doc}:${++issued}`, expiresAt: Date.now() + 600_000 });
  const tokens = createTokenBroker({
    fetchOne: async (doc): Promise<ApiResult<SyncToken>> => {
      tokenCalls.push([doc]);
      return { ok: true, status: 200, data: grant(doc) };
    },
    fetchMany: async (docs) => {
      tokenCalls.push(docs);
      return { ok: true, status: 200, data: { tokens: Object.fromEntries(docs.map((d) => [d, grant(d)])) } };
    },
  });
  const storage = options.storage ?? memoryStorage();
  const client = createSyncClient({
    userId,
    displayName: userId,
    url: options.url ?? `ws://127.0.0.1:${server.address.port}`,
    tokens,
    cache: createAccountCache(storage),
    relay: () => () => {},
    ...(options.idleCloseMs !== undefined ? { idleCloseMs: options.idleCloseMs } : {}),
    ...(options.tryAgainDelayMs ? { tryAgainDelayMs: options.tryAgainDelayMs } : {}),
  });
  return { client, tokens, tokenCalls, storage };
}

const clients: SyncClient[] = [];
function track<T extends { client: SyncClient }>(d: T): T {
  clients.push(d.client);
  return d;
}

beforeAll(async () => {
  await server.listen();
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await server.destroy();
});

const say = (doc: import('yjs').Doc, author: string, text: string) =>
  appendMessage(doc, {
    id: `m${Math.random().toString(36).slice(2)}` as MessageId,
    author: author as UserId,
    text,
    createdAt: Date.now(),
  });

/**
 * `otherUser` opens `name` on a device of their own; a message then flows each way between it and
 * `room`. Synced is not enough: this shows the connection `room` ended with really serves the room.
 */
async function expectLiveBothWays(
  room: { doc: import('yjs').Doc },
  name: DocumentName,
  user: string,
  otherUser: string,
): Promise<void> {
  const other = track(device(otherUser)).client.open(name);
  await waitFor(() => other.status().kind === 'synced', { message: `${otherUser} synced`, timeoutMs: 10_000 });
  say(other.doc, otherUser, `hello from ${otherUser}`);
  await waitFor(() => readMessages(room.doc).some((m) => m.text === `hello from ${otherUser}`), {
    message: `${user} receives`,
    timeoutMs: 10_000,
  });
  say(room.doc, user, `hello from ${user}`);
  await waitFor(() => readMessages(other.doc).some((m) => m.text === `hello from ${user}`), {
    message: `${otherUser} receives`,
    timeoutMs: 10_000,
  });
}

describe('sync client', () => {
  it('syncs messages between two devices, all rooms of a device sharing one batch of tokens', async () => {
    const alice = track(device('alice'));
    const bob = track(device('bob'));
    const a1 = alice.client.open('room:r1' as DocumentName);
    const a2 = alice.client.open('room:r2' as DocumentName);
    const b1 = bob.client.open('room:r1' as DocumentName);
    await Promise.all([a1.whenLoaded, a2.whenLoaded, b1.whenLoaded]);
    await waitFor(() => a1.status().kind === 'synced' && a2.status().kind === 'synced', { message: 'alice synced' });
    expect(alice.tokenCalls).toEqual([['room:r1', 'room:r2']]);
    say(a1.doc, 'alice', 'hello bob');
    await waitFor(() => readMessages(b1.doc).some((m) => m.text === 'hello bob'), { message: 'bob receives' });
  });

  it('renders what IndexedDB holds before any server answers, then keeps offline writes pending until acknowledged', async () => {
    const storage = memoryStorage();
    // A device whose server is unreachable: writes land in IndexedDB and stay pending.
    const offline = track(device('carol', { url: 'ws://127.0.0.1:9/', storage }));
    const room = offline.client.open('room:r3' as DocumentName);
    await room.whenLoaded;
    const message = say(room.doc, 'carol', 'written offline');
    room.markPending(message.id);
    expect(room.pendingIds().has(message.id)).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // let y-indexeddb store the update
    room.release();

    // Reload with the server reachable: the message is there from IndexedDB, still pending, then settles.
    const online = track(device('carol', { storage }));
    const again = online.client.open('room:r3' as DocumentName);
    await again.whenLoaded;
    expect(readMessages(again.doc).map((m) => m.text)).toEqual(['written offline']);
    expect(again.pendingIds().has(message.id)).toBe(true);
    await waitFor(() => again.pendingIds().size === 0, { message: 'pending settles', timeoutMs: 8000 });

    const other = track(device('dave'));
    const seen = other.client.open('room:r3' as DocumentName);
    await waitFor(() => readMessages(seen.doc).some((m) => m.text === 'written offline'), { message: 'dave sees it' });
  });

  it('fetches a new token and authenticates again when the server refuses an expired one', async () => {
    const erin = track(device('erin'));
    // The first token the broker hands out for this document is refused as unauthorized.
    refusals.set(`ok:room:r4:${issued + 1}`, CLOSE.unauthorized.reason);
    const room = erin.client.open('room:r4' as DocumentName);
    await waitFor(() => room.status().kind === 'synced', { message: 'synced after renewal', timeoutMs: 8000 });
    expect(erin.tokenCalls.length).toBe(2);
    // Synced is not enough: the retry must leave the document open on the server, so live
    // changes flow both ways (a retry by detach() + attach() gets its queued Close replayed
    // right after the new authentication, and the server stops relaying the room).
    await expectLiveBothWays(room, 'room:r4' as DocumentName, 'erin', 'gina');
  });

  it('shows a user online to others again right after their connection drops and comes back', async () => {
    const away = track(device('hana')).client.open('room:r-presence' as DocumentName);
    const watcher = track(device('ivan')).client.open('room:r-presence' as DocumentName);
    const hanaId = away.doc.clientID;
    const watcherAwareness = watcher.provider.awareness;
    if (!watcherAwareness) throw new Error('awareness is on by default');
    const seesHana = () =>
      (watcherAwareness.getStates().get(hanaId)?.user as { id?: string } | undefined)?.id === 'hana';
    // Generous: with every client test file running at once on two cores, a first sync can take seconds.
    await waitFor(seesHana, { message: 'ivan sees hana', timeoutMs: 10_000 });
    // The removal the server broadcasts when hana's socket drops, seen by ivan.
    let removalSeen = false;
    watcherAwareness.on('change', ({ removed }: { removed: number[] }) => {
      if (removed.includes(hanaId)) removalSeen = true;
    });
    const socket = away.provider.configuration.websocketProvider;
    socket.webSocket?.close();
    await waitFor(() => removalSeen, { message: 'ivan sees hana leave', timeoutMs: 10_000 });
    // Hana changes nothing about her presence: only the re-announcement after the reconnect brings her back.
    await waitFor(() => away.status().kind === 'synced' && seesHana(), {
      message: 'ivan sees hana again',
      timeoutMs: 6000,
    });
  });

  it('tells a removed member why, and does not keep retrying', async () => {
    refusals.set('room:r5', CLOSE.membershipRevoked.reason);
    const fred = track(device('fred'));
    const room = fred.client.open('room:r5' as DocumentName);
    await waitFor(() => room.status().kind === 'denied', { message: 'denied' });
    expect(room.status()).toEqual({
      kind: 'denied',
      reason: 'membership_revoked',
      message: 'You were removed from this room.',
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(fred.tokenCalls.length).toBe(1);
  });

  it('asks for an app update, and stops reconnecting, when the server no longer speaks its protocol', async () => {
    refusals.set('room:r14', CLOSE.upgradeRequired.reason);
    const mia = track(device('mia'));
    mia.client.open('room:r14' as DocumentName);
    await waitFor(() => mia.client.connection().kind === 'upgrade_required', { message: 'upgrade required' });
    expect(mia.client.connection()).toMatchObject({ message: expect.stringMatching(/Reload to update/) });
    const calls = mia.tokenCalls.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(mia.tokenCalls.length).toBe(calls);
  });

  it('stops the whole connection and reports sign-out when the session is revoked', async () => {
    refusals.set('room:r6', CLOSE.sessionRevoked.reason);
    const gina = track(device('gina'));
    const room = gina.client.open('room:r6' as DocumentName);
    await waitFor(() => gina.client.connection().kind === 'signed_out', { message: 'signed out' });
    expect(room.status().kind).not.toBe('synced');
  });

  it('reuses a document released a moment ago instead of closing and reopening it, and closes it when idle', async () => {
    const hana = track(device('hana', { idleCloseMs: 200 }));
    const first = hana.client.open('room:r7' as DocumentName);
    await waitFor(() => first.status().kind === 'synced', { message: 'synced' });
    first.release();
    const again = hana.client.open('room:r7' as DocumentName);
    expect(again.doc).toBe(first.doc);
    expect(again.status().kind).toBe('synced');
    again.release();
    await waitFor(() => hana.client.openDocuments().length === 0, { message: 'closed when idle' });
  });

  it('keeps the other rooms syncing when the server refuses a change of one room on the shared socket', async () => {
    const ivan = track(device('ivan'));
    const bad = ivan.client.open('room:r8' as DocumentName);
    const good = ivan.client.open('room:r9' as DocumentName);
    await waitFor(() => bad.status().kind === 'synced' && good.status().kind === 'synced', { message: 'synced' });
    say(bad.doc, 'ivan', 'this breaks-a-rule');
    await waitFor(() => bad.status().kind === 'denied', { message: 'the refused room is denied' });
    expect(bad.status()).toMatchObject({ reason: 'forbidden_update' });
    await waitFor(() => good.status().kind === 'synced', { message: 'the other room reconnects', timeoutMs: 8000 });
    say(good.doc, 'ivan', 'still flowing');
    const judy = track(device('judy'));
    const seen = judy.client.open('room:r9' as DocumentName);
    await waitFor(() => readMessages(seen.doc).some((m) => m.text === 'still flowing'), { message: 'judy sees it' });
  });

  it('blames only the room whose offline change was refused, even while every room is in its first sync', async () => {
    const storage = memoryStorage();
    const offline = track(device('kate', { url: 'ws://127.0.0.1:9/', storage }));
    const room = offline.client.open('room:r10' as DocumentName);
    await room.whenLoaded;
    say(room.doc, 'kate', 'written offline, breaks-a-rule');
    await new Promise((r) => setTimeout(r, 300)); // let y-indexeddb store the update
    room.release();

    const online = track(device('kate', { storage }));
    const refused = online.client.open('room:r10' as DocumentName);
    const innocent = online.client.open('room:r11' as DocumentName);
    await waitFor(() => refused.status().kind === 'denied', { message: 'the refused room is denied', timeoutMs: 8000 });
    await waitFor(() => innocent.status().kind === 'synced', { message: 'the other room syncs', timeoutMs: 8000 });
    expect(refused.status()).toMatchObject({ reason: 'forbidden_update' });
  });

  it('stops only the room whose changes exceed the frame limit, and says so', async () => {
    const small = new Server({
      port: 0,
      quiet: true,
      stopOnSignals: false,
      websocketOptions: { maxPayload: 64 * 1024 },
      async onAuthenticate({ token, documentName }) {
        if (!token.startsWith(`ok:${documentName}:`)) throw { reason: CLOSE.unauthorized.reason };
      },
    });
    await small.listen();
    try {
      const lena = track(device('lena', { url: `ws://127.0.0.1:${small.address.port}` }));
      const big = lena.client.open('room:r12' as DocumentName);
      const other = lena.client.open('room:r13' as DocumentName);
      await waitFor(() => big.status().kind === 'synced' && other.status().kind === 'synced', { message: 'synced' });
      big.doc.transact(() => {
        for (let i = 0; i < 40; i++) say(big.doc, 'lena', `${i} ${'x'.repeat(3000)}`);
      });
      await waitFor(() => big.status().kind === 'denied', {
        message: 'the oversized room is stopped',
        timeoutMs: 8000,
      });
      expect(big.status()).toMatchObject({ reason: 'message_too_big' });
      await waitFor(() => other.status().kind === 'synced', { message: 'the other room reconnects', timeoutMs: 8000 });
    } finally {
      await small.destroy();
    }
  });
  it.each(['onLoadDocument', 'onAuthenticate'] as const)(
    'keeps its token and tries again with growing waits while the server cannot open a room (try_again_later from %s), then syncs',
    async (hook) => {
      const name = `room:r-unavailable-${hook}` as DocumentName;
      unavailable.set(name, { hook, failures: 3 });
      tries.set(name, []);
      const waits: number[] = [];
      const olga = track(
        device('olga', {
          tryAgainDelayMs: (failures) => {
            waits.push(failures);
            return 60 * 2 ** (failures - 1);
          },
        }),
      );
      const room = olga.client.open(name);
      const seen: DocStatus[] = [];
      room.subscribe(() => seen.push(room.status()));
      await waitFor(() => room.status().kind === 'synced', { message: 'synced once the room opens', timeoutMs: 8000 });

      // Shown as offline, with the reason, while it waits; never denied.
      expect(seen).toContainEqual({
        kind: 'offline',
        reason: CLOSE.tryAgainLater.reason,
        message: explainClose(CLOSE.tryAgainLater.reason),
      });
      expect(seen.filter((s) => s.kind === 'denied')).toEqual([]);
      // One wait per refusal, each longer than the last, and the tries spaced by at least those waits.
      expect(waits).toEqual([1, 2, 3]);
      const at = tries.get(name)!.map((t) => t.at);
      expect(at.length).toBe(4);
      const gaps = at.slice(1).map((t, i) => t - at[i]!);
      for (const [i, gap] of gaps.entries()) expect(gap).toBeGreaterThanOrEqual(60 * 2 ** i - 2);
      // The token was good all along: every try sent the same one, fetched once.
      expect(new Set(tries.get(name)!.map((t) => t.token)).size).toBe(1);
      expect(olga.tokenCalls).toEqual([[name]]);

      // The waits start over once the room has synced.
      unavailable.set(name, { hook: 'onAuthenticate', failures: 1 });
      room.provider.configuration.websocketProvider.webSocket?.close();
      await waitFor(() => waits.length === 4 && room.status().kind === 'synced', {
        message: 'synced again after one more refusal',
        timeoutMs: 8000,
      });
      expect(waits).toEqual([1, 2, 3, 1]);

      // Live changes flow both ways on the connection the tries ended with.
      await expectLiveBothWays(room, name, 'olga', 'pia');
    },
  );

  it('reconnects and sends a change again when the server closes the socket because it could not store it (1013)', async () => {
    const name = 'room:r-store-fails' as DocumentName;
    const quinn = track(device('quinn'));
    const room = quinn.client.open(name);
    await waitFor(() => room.status().kind === 'synced', { message: 'synced' });
    const seen: DocStatus[] = [];
    room.subscribe(() => seen.push(room.status()));
    storeFailures = 1;
    const message = say(room.doc, 'quinn', 'this store-fails once');
    room.markPending(message.id);
    await waitFor(() => storeFailures === 0, { message: 'the store failed' });
    await waitFor(() => room.status().kind === 'synced' && room.pendingIds().size === 0, {
      message: 'reconnected and acknowledged',
      timeoutMs: 10_000,
    });
    expect(seen.filter((s) => s.kind === 'denied')).toEqual([]);
    expect(seen).toContainEqual(expect.objectContaining({ reason: CLOSE.tryAgainLater.reason }));
    const other = track(device('rosa')).client.open(name);
    await waitFor(() => readMessages(other.doc).some((m) => m.text === 'this store-fails once'), {
      message: 'rosa sees it',
      timeoutMs: 10_000,
    });
  });

  it.each([
    [CLOSE.forbidden.reason, 3, 'You do not have access to this room.'],
    [CLOSE.membershipRevoked.reason, 1, 'You were removed from this room.'],
    [CLOSE.roomDeleted.reason, 1, 'This room was deleted by an owner.'],
  ])(
    'still stops a room refused with %s, after %i token fetch(es), without waiting to try again',
    async (reason, fetches, message) => {
      const name = `room:r-refused-${reason}` as DocumentName;
      refusals.set(name, reason);
      const waits: number[] = [];
      const sam = track(
        device('sam', {
          tryAgainDelayMs: (failures) => {
            waits.push(failures);
            return 10;
          },
        }),
      );
      const room = sam.client.open(name);
      await waitFor(() => room.status().kind === 'denied', { message: 'denied' });
      expect(room.status()).toEqual({ kind: 'denied', reason, message });
      await new Promise((r) => setTimeout(r, 300));
      expect(room.status().kind).toBe('denied');
      expect(sam.tokenCalls.length).toBe(fetches);
      expect(waits).toEqual([]);
    },
  );
});
