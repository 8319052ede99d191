import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestPostgres, freePort, needService, waitFor } from '@confab/platform/testing';
import { appendMessage, newMessageId, readMessages, type UserId } from '@confab/protocol';
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { type Confab, startConfab } from './app';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-aio-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function start(env: Record<string, string> = {}): Promise<Confab> {
  const confab = await startConfab(
    {
      PORT: '0',
      HOST: '127.0.0.1',
      CONFAB_CLIENT: 'off',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      DATA_DIR: tempDir(),
      ...env,
    },
    {},
  );
  cleanups.push(() => confab.stop());
  return confab;
}

interface Account {
  id: UserId;
  token: string;
}

function api(confab: Confab, account?: Account) {
  return async (method: string, pathname: string, body?: unknown) => {
    const res = await fetch(`${confab.url}${pathname}`, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(account ? { authorization: `Bearer ${account.token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}

async function register(confab: Confab, name: string): Promise<Account> {
  const res = await api(confab)('POST', '/api/auth/register', {
    email: `${name}@example.com`,
    password: 'correct horse battery staple',
    displayName: name,
  });
  expect(res.status).toBe(201);
  return { id: res.body.user.id, token: res.body.token };
}

/** A real provider on the all-in-one port's /sync, authenticated with a sync token from the same port. */
async function connect(confab: Confab, account: Account, document: string) {
  const doc = new Y.Doc();
  const socket = new HocuspocusProviderWebsocket({
    url: `${confab.url.replace('http', 'ws')}/sync?protocolVersion=1`,
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    // minDelay must not exceed maxDelay, or the provider's retry loop never starts.
    delay: 50,
    minDelay: 50,
    maxDelay: 200,
  });
  const provider = new HocuspocusProvider({
    websocketProvider: socket,
    name: document,
    document: doc,
    token: async () => {
      const res = await api(confab, account)('POST', '/api/auth/sync-token', { document });
      return res.body.token as string;
    },
  });
  provider.attach();
  cleanups.push(() => {
    provider.destroy();
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${document} did not sync`)), 10_000);
    provider.on('synced', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return { doc, provider, socket };
}

async function roomWithTwoMembers(confab: Confab) {
  const alice = await register(confab, 'alice');
  const bob = await register(confab, 'bob');
  const created = await api(confab, alice)('POST', '/api/rooms', { name: 'General' });
  expect(created.status).toBe(201);
  const roomId: string = created.body.room.id;
  const invite = await api(confab, alice)('POST', `/api/rooms/${roomId}/invites`, { role: 'member' });
  expect(invite.status).toBe(201);
  const accepted = await api(confab, bob)('POST', `/api/invites/${invite.body.code}/accept`);
  expect(accepted.status).toBe(200);
  return { alice, bob, roomId };
}

describe('the all-in-one process', () => {
  it('answers health, readiness and metrics for every service on one port', async () => {
    const confab = await start();
    expect(await (await fetch(`${confab.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${confab.url}/readyz`);
    expect(ready.status).toBe(200);
    expect((await ready.json()).services).toEqual({ auth: true, 'sync-server': true, notifier: true });
    const metrics = await (await fetch(`${confab.url}/metrics`)).text();
    for (const family of ['confab_auth_', 'confab_sync_', 'confab_notifier_', 'process_cpu_seconds_total']) {
      expect(metrics).toContain(family);
    }
  });

  it('routes each API prefix to its service and answers unknown routes with a contract error', async () => {
    const confab = await start();
    const call = api(confab);
    expect((await call('GET', '/api/auth/me')).status).toBe(401);
    expect((await call('GET', '/api/rooms')).status).toBe(401);
    expect((await call('GET', '/api/notifications')).status).toBe(401);
    expect((await call('GET', '/api/push/vapid-public-key')).body.key).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const unknown = await call('GET', '/api/nothing-here');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
  });

  it('carries a message from one member to another over /sync and notifies the other in-app', async () => {
    const confab = await start();
    const { alice, bob, roomId } = await roomWithTwoMembers(confab);
    const a = await connect(confab, alice, `room:${roomId}`);
    const b = await connect(confab, bob, `room:${roomId}`);

    const messageId = newMessageId();
    appendMessage(a.doc, {
      id: messageId,
      author: alice.id,
      text: 'hello @bob',
      createdAt: Date.now(),
      mentions: [bob.id],
    });
    await waitFor(() => readMessages(b.doc).some((m) => m.id === messageId), { message: 'bob to receive the message' });

    // Bob has the room open, so no push or email: but the in-app feed records the mention.
    const feed = await waitFor(
      async () => {
        const res = await api(confab, bob)('GET', '/api/notifications');
        return res.body.items.length > 0 ? res.body.items : null;
      },
      { message: 'the in-app notification' },
    );
    expect(feed[0]).toMatchObject({ roomId, messageId, kind: 'mention' });
    const aliceFeed = await api(confab, alice)('GET', '/api/notifications');
    expect(aliceFeed.body.items).toEqual([]);
  });

  it('keeps acknowledged messages across a restart on the same data directory', async () => {
    const dataDir = tempDir();
    const first = await startConfab({
      PORT: '0',
      HOST: '127.0.0.1',
      CONFAB_CLIENT: 'off',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      DATA_DIR: dataDir,
    });
    const { alice, roomId } = await roomWithTwoMembers(first);
    const a = await connect(first, alice, `room:${roomId}`);
    appendMessage(a.doc, { id: newMessageId(), author: alice.id, text: 'still here?', createdAt: Date.now() });
    await waitFor(() => !a.provider.hasUnsyncedChanges, { message: 'the server to acknowledge' });
    // The socket goes too: left open, it would keep reconnecting to the stopped server, and closing it
    // mid-handshake in the cleanup makes ws throw "closed before the connection was established" (seen in CI).
    a.provider.destroy();
    a.socket.destroy();
    await first.stop();

    const second = await start({ DATA_DIR: dataDir });
    const again = await connect(second, alice, `room:${roomId}`);
    expect(readMessages(again.doc).map((m) => m.text)).toEqual(['still here?']);
  });

  it('takes PUBLIC_URL from the port when it is unset, so the browser origin it serves is accepted', async () => {
    const port = await freePort();
    const confab = await start({ PORT: String(port) });
    const register = (origin: string) =>
      fetch(`${confab.url}/api/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin },
        body: JSON.stringify({
          email: `o${origin.length}@example.com`,
          password: 'correct horse battery',
          displayName: 'O',
        }),
      });
    expect((await register(`http://localhost:${port}`)).status).toBe(201);
    expect((await register('http://localhost:3000')).status).toBe(403);
  });

  it('refuses a sync connection for a room the user does not belong to', async () => {
    const confab = await start();
    const { roomId } = await roomWithTwoMembers(confab);
    const carol = await register(confab, 'carol');
    const res = await api(confab, carol)('POST', '/api/auth/sync-token', { document: `room:${roomId}` });
    expect(res.status).toBe(403);
  });
});

const pg = await needService('postgres');
describe.skipIf(!pg)('the all-in-one process on PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof createTestPostgres>> | undefined;
  afterAll(async () => database?.drop());

  it('runs the chat flow with DATABASE_URL set', async () => {
    database = await createTestPostgres();
    const confab = await start({ DATABASE_URL: database.url });
    const { alice, bob, roomId } = await roomWithTwoMembers(confab);
    const a = await connect(confab, alice, `room:${roomId}`);
    const b = await connect(confab, bob, `room:${roomId}`);
    appendMessage(a.doc, { id: newMessageId(), author: alice.id, text: 'on postgres', createdAt: Date.now() });
    await waitFor(() => readMessages(b.doc).length === 1, { message: 'bob to receive the message' });
  });
});

describe('starting with a bad configuration', () => {
  it('exits non-zero with one line naming the variable', () => {
    const result = spawnSync(path.resolve('node_modules/.bin/tsx'), ['all-in-one/src/main.ts'], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      env: { ...process.env, PORT: 'not-a-port', CONFAB_CLIENT: 'off' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^confab: PORT: /);
  });
});
