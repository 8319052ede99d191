import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '@confab/platform';
import { waitFor } from '@confab/platform/testing';
import { appendMessage, editMessage, type MessageId, newMessageId, readMessages, type UserId } from '@confab/protocol';
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { type Confab, startConfab } from './app';

/**
 * Attacks on the sync path of a running all-in-one, with real
 * @hocuspocus/provider clients and tokens from the real auth server: forged
 * and misused sync tokens, foreign origins, oversized frames, writes the room
 * schema forbids, spoofed presence, and access after removal or sign-out.
 * See docs/security.md for the model these tests hold the code to.
 */

const PUBLIC_URL = 'http://chat.test:3000';
const INTERNAL_TOKEN = 'internal-token-for-security-tests';
let confab: Confab;
let dataDir: string;
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-sec-'));
  confab = await startConfab({
    PORT: '0',
    HOST: '127.0.0.1',
    CONFAB_CLIENT: 'off',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATA_DIR: dataDir,
    PUBLIC_URL,
    // Set as an operator might, sharing one env file between the split services and the all-in-one.
    INTERNAL_API_TOKEN: INTERNAL_TOKEN,
  });
});
afterAll(async () => {
  await confab?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

interface Account {
  id: UserId;
  token: string;
}

async function call(method: string, pathname: string, account?: Account, body?: unknown) {
  const res = await fetch(`${confab.url}${pathname}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(account ? { authorization: `Bearer ${account.token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field
  return { status: res.status, body: (text ? JSON.parse(text) : null) as any };
}

let accounts = 0;
async function register(name: string): Promise<Account> {
  const res = await call('POST', '/api/auth/register', undefined, {
    email: `${name}-${++accounts}@example.com`,
    password: 'correct horse battery staple',
    displayName: name,
  });
  expect(res.status).toBe(201);
  return { id: res.body.user.id, token: res.body.token };
}

async function room(owner: Account, ...members: Array<[Account, 'member' | 'reader']>): Promise<string> {
  const roomId: string = (await call('POST', '/api/rooms', owner, { name: 'General' })).body.room.id;
  for (const [account, role] of members) {
    const invite = await call('POST', `/api/rooms/${roomId}/invites`, owner, { role });
    expect((await call('POST', `/api/invites/${invite.body.code}/accept`, account)).status).toBe(200);
  }
  return roomId;
}

async function syncToken(account: Account, document: string): Promise<string> {
  const res = await call('POST', '/api/auth/sync-token', account, { document });
  expect(res.status).toBe(200);
  return res.body.token;
}

interface Client {
  doc: Y.Doc;
  provider: HocuspocusProvider;
  closes: Array<{ code: number; reason: string }>;
  authFailures: string[];
  synced: () => boolean;
  destroy: () => void;
}

/** A real provider on /sync with a fixed token (or a fresh one per connect). */
function open(document: string, token: string | (() => Promise<string>)): Client {
  const doc = new Y.Doc();
  const closes: Client['closes'] = [];
  const authFailures: string[] = [];
  let synced = false;
  const socket = new HocuspocusProviderWebsocket({
    url: `${confab.url.replace('http', 'ws')}/sync?protocolVersion=1`,
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    delay: 50,
    minDelay: 50,
    maxDelay: 200,
    onClose: ({ event }) => closes.push({ code: event.code, reason: event.reason }),
  });
  const provider = new HocuspocusProvider({
    websocketProvider: socket,
    name: document,
    document: doc,
    token,
    onAuthenticationFailed: ({ reason }) => authFailures.push(reason),
    onSynced: () => {
      synced = true;
    },
  });
  provider.attach();
  const destroy = () => {
    provider.destroy();
    socket.destroy();
  };
  cleanups.push(destroy);
  return { doc, provider, closes, authFailures, synced: () => synced, destroy };
}

async function openSynced(document: string, account: Account): Promise<Client> {
  // A token from the same second as a membership change is refused once (`iat` has second
  // resolution, see sync-server revocation); the app then asks again, and so does this helper.
  for (let attempt = 0; ; attempt++) {
    const client = open(document, () => syncToken(account, document));
    await waitFor(() => client.synced() || client.authFailures.length > 0, {
      message: `${account.id} to sync ${document}`,
    });
    if (client.synced()) return client;
    client.destroy();
    if (attempt >= 50 || !client.authFailures.includes('forbidden')) {
      throw new Error(`${document}: ${client.authFailures.join(', ')}`);
    }
  }
}

async function refused(document: string, token: string): Promise<string> {
  const client = open(document, token);
  await waitFor(() => client.authFailures.length > 0 || client.synced(), { message: 'an answer to the token' });
  expect(client.synced()).toBe(false);
  client.destroy();
  return client.authFailures[0] as string;
}

const acknowledged = (client: Client) => waitFor(() => !client.provider.hasUnsyncedChanges, { message: 'the ack' });

/** The server's signing key, read from the database as only the operator could: to sign tokens that are valid but for their claims. */
async function serverKey(): Promise<{ kid: string; privateJwk: JWK; publicJwk: JWK }> {
  const database = openDatabase<{ auth_keys: { kid: string; private_jwk: string; public_jwk: string } }>({
    dataDir,
  });
  try {
    const row = await database.db.selectFrom('auth_keys').selectAll().executeTakeFirstOrThrow();
    return { kid: row.kid, privateJwk: JSON.parse(row.private_jwk), publicJwk: JSON.parse(row.public_jwk) };
  } finally {
    await database.close();
  }
}

describe('sync tokens', () => {
  it('refuses forged, misused and outlived tokens, and accepts a well-formed one signed by the server key', async () => {
    const alice = await register('alice');
    const bob = await register('bob');
    const roomA = await room(alice);
    const roomB = await room(bob);
    const { kid, privateJwk, publicJwk } = await serverKey();
    const serverPrivate = await importJWK(privateJwk, 'EdDSA');
    const nowS = Math.floor(Date.now() / 1000);
    const claims = (doc: string, sub: string = alice.id) => ({ sid: 'forged-session', doc, role: 'owner', sub });
    const signed = (doc: string, options: { iat?: number; exp?: number; sub?: string } = {}) =>
      new SignJWT(claims(doc, options.sub))
        .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
        .setIssuedAt(options.iat ?? nowS)
        .setExpirationTime(options.exp ?? nowS + 300)
        .sign(serverPrivate);
    const attacker = await generateKeyPair('EdDSA', { extractable: true });
    const document = `room:${roomB}`;

    // Control: the harness signs correctly, so the refusals below are about what each token does wrong.
    const control = open(`room:${roomA}`, await signed(`room:${roomA}`));
    await waitFor(() => control.synced(), { message: 'the control token to work' });

    const attacks: Record<string, string> = {
      'alg none': new UnsecuredJWT(claims(document))
        .setSubject(alice.id)
        .setIssuedAt(nowS)
        .setExpirationTime(nowS + 300)
        .encode(),
      'HS256 keyed with the public JWK': await new SignJWT(claims(document))
        .setProtectedHeader({ alg: 'HS256', kid })
        .setIssuedAt(nowS)
        .setExpirationTime(nowS + 300)
        .sign(new TextEncoder().encode(JSON.stringify(publicJwk))),
      'HS256 keyed with the raw public key': await new SignJWT(claims(document))
        .setProtectedHeader({ alg: 'HS256', kid })
        .setIssuedAt(nowS)
        .setExpirationTime(nowS + 300)
        .sign(Buffer.from(publicJwk.x as string, 'base64url')),
      "the attacker's key under the server's kid": await new SignJWT(claims(document))
        .setProtectedHeader({ alg: 'EdDSA', kid })
        .setIssuedAt(nowS)
        .setExpirationTime(nowS + 300)
        .sign(attacker.privateKey),
      "the attacker's key embedded in the header": await new SignJWT(claims(document))
        .setProtectedHeader({ alg: 'EdDSA', jwk: await exportJWK(attacker.publicKey) })
        .setIssuedAt(nowS)
        .setExpirationTime(nowS + 300)
        .sign(attacker.privateKey),
      'a real token for another room': await syncToken(alice, `room:${roomA}`),
      'a server-signed token for another user’s private document': await signed(`user:${bob.id}`),
      'an expired server-signed token': await signed(document, { iat: nowS - 1200, exp: nowS - 600 }),
      'a server-signed token living an hour': await signed(document, { exp: nowS + 3600 }),
      garbage: 'not.a.token',
    };
    for (const [attack, token] of Object.entries(attacks)) {
      const reason = await refused(document, token);
      expect([attack, reason]).toEqual([attack, expect.stringMatching(/unauthorized|forbidden/)]);
    }
    expect(await refused(`user:${bob.id}`, await signed(`user:${bob.id}`))).toMatch(/forbidden/);
    // The API does not hand out tokens for documents the caller may not open.
    expect((await call('POST', '/api/auth/sync-token', alice, { document: `user:${bob.id}` })).status).toBe(403);
    expect((await call('POST', '/api/auth/sync-token', alice, { document })).status).toBe(403);
    const batch = await call('POST', '/api/auth/sync-token', alice, {
      documents: [`room:${roomA}`, document, `user:${bob.id}`, `user:${alice.id}`],
    });
    expect(Object.keys(batch.body.tokens).sort()).toEqual([`room:${roomA}`, `user:${alice.id}`].sort());
  });

  it('closes a removed member’s open connection and refuses the token it was given before the removal', async () => {
    const alice = await register('alice');
    const bob = await register('bob');
    const roomId = await room(alice, [bob, 'member']);
    const document = `room:${roomId}`;
    const oldToken = await syncToken(bob, document);
    const bobClient = open(document, oldToken);
    await waitFor(() => bobClient.synced(), { message: 'bob to sync' });
    expect((await call('DELETE', `/api/rooms/${roomId}/members/${bob.id}`, alice)).status).toBe(204);
    await waitFor(() => bobClient.closes.some((c) => c.reason === 'membership_revoked'), {
      message: 'bob to be cut off',
    });
    bobClient.destroy();
    expect(await refused(document, oldToken)).toMatch(/forbidden/);
    expect((await call('POST', '/api/auth/sync-token', bob, { document })).status).toBe(403);
  });

  it('closes the connections of a session that signs out and refuses its tokens afterwards', async () => {
    const alice = await register('alice');
    const roomId = await room(alice);
    const document = `room:${roomId}`;
    const token = await syncToken(alice, document);
    const client = open(document, token);
    await waitFor(() => client.synced(), { message: 'alice to sync' });
    expect((await call('POST', '/api/auth/logout', alice)).status).toBe(204);
    await waitFor(() => client.closes.some((c) => c.reason === 'session_revoked'), { message: 'the socket to close' });
    client.destroy();
    expect(await refused(document, token)).toMatch(/session_revoked|unauthorized/);
  });
});

describe('the WebSocket endpoint', () => {
  function upgrade(headers: Record<string, string>): Promise<number> {
    return new Promise((resolve) => {
      const ws = new WebSocket(`${confab.url.replace('http', 'ws')}/sync?protocolVersion=1`, { headers });
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      ws.on('error', () => {});
    });
  }

  it('refuses an upgrade from a foreign browser origin and takes one from PUBLIC_URL’s origin or from a non-browser client', async () => {
    expect(await upgrade({ origin: 'https://evil.example' })).toBe(403);
    expect(await upgrade({ origin: 'null' })).toBe(403);
    expect(await upgrade({ origin: 'http://chat.test:3000.evil.example' })).toBe(403);
    expect(await upgrade({ origin: PUBLIC_URL })).toBe(101);
    expect(await upgrade({})).toBe(101);
  });

  it('closes a connection that sends a message over 1 MiB with 1009, before any authentication', async () => {
    const ws = new WebSocket(`${confab.url.replace('http', 'ws')}/sync?protocolVersion=1`);
    await new Promise((resolve) => ws.on('open', resolve));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('error', () => {});
    ws.send(new Uint8Array(1024 * 1024 + 1));
    expect(await closed).toBe(1009);
  });
});

describe('the public port', () => {
  function rawGet(rawPath: string, headers: Record<string, string> = {}): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${confab.url}/`, { path: rawPath, headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('does not serve /internal/* (the services’ private API), also not through dot segments under an API prefix', async () => {
    const alice = await register('alice');
    const auth = { authorization: `Bearer ${INTERNAL_TOKEN}` };
    expect(await rawGet(`/internal/users/${alice.id}`, auth)).toBe(404);
    for (const prefix of ['/api/auth', '/api/rooms', '/api/invites', '/api/notifications', '/api/push']) {
      for (const sneak of ['/../internal', '/../../internal', '/%2e%2e/internal', '/./../internal']) {
        const status = await rawGet(`${prefix}${sneak}/users/${alice.id}`, auth);
        expect([prefix + sneak, status]).toEqual([prefix + sneak, 404]);
      }
    }
  });
});

describe('the update guard, end to end', () => {
  it('cuts off a member who writes as someone else, rewrites or deletes another’s message, reorders, adds keys or nests types', async () => {
    const alice = await register('alice');
    const bob = await register('bob');
    const roomId = await room(alice, [bob, 'member']);
    const document = `room:${roomId}`;
    const b = await openSynced(document, bob);
    const bobsMessage = appendMessage(b.doc, {
      id: newMessageId(),
      author: bob.id,
      text: 'bob was here',
      createdAt: Date.now(),
    });
    await acknowledged(b);

    const message = (author: UserId, text: string) => ({
      id: newMessageId() as MessageId,
      author,
      text,
      createdAt: Date.now(),
    });
    // Each attack from a fresh copy of the room, signed in as bob's fellow member carol (not an owner).
    const carol = await register('carol');
    const invite = await call('POST', `/api/rooms/${roomId}/invites`, alice, { role: 'member' });
    await call('POST', `/api/invites/${invite.body.code}/accept`, carol);
    const attacks: Record<string, (doc: Y.Doc) => void> = {
      'a message authored as bob': (doc) => doc.getArray('messages').push([message(bob.id, 'I am bob')]),
      "an edit of bob's message": (doc) => editMessage(doc, bobsMessage.id, 'bob said something else', Date.now()),
      "deleting bob's message": (doc) => doc.getArray('messages').delete(0, 1),
      'inserting before the last message': (doc) => doc.getArray('messages').insert(0, [message(carol.id, 'first!')]),
      'a new top-level key': (doc) => doc.getMap('admin').set('owner', carol.id),
      'a nested Y type in messages': (doc) => {
        const nested = new Y.Map<unknown>();
        nested.set('text', 'nested');
        doc.getArray('messages').push([nested]);
      },
      'a message over 4000 characters': (doc) => doc.getArray('messages').push([message(carol.id, 'x'.repeat(4001))]),
      'an extra field on a message': (doc) =>
        doc.getArray('messages').push([{ ...message(carol.id, 'hi'), html: '<img src=x onerror=alert(1)>' }]),
      "bob's reaction": (doc) => doc.getMap('reactions').set(`${bobsMessage.id}|${bob.id}|👍`, Date.now()),
      "bob's read marker": (doc) => doc.getMap('reads').set(bob.id, { messageId: bobsMessage.id, at: Date.now() }),
    };
    for (const [attack, write] of Object.entries(attacks)) {
      const c = await openSynced(document, carol);
      write(c.doc);
      await waitFor(() => c.closes.some((e) => e.code === 4422), { message: `${attack} to be refused` });
      expect([attack, c.closes.find((e) => e.code === 4422)?.reason]).toEqual([attack, 'forbidden_update']);
      c.destroy();
    }
    // None of it reached bob or storage: a fresh copy has bob's message alone, unedited, and no other key.
    const fresh = await openSynced(document, alice);
    expect(readMessages(fresh.doc).map((m) => [m.author, m.text])).toEqual([[bob.id, 'bob was here']]);
    expect(readMessages(b.doc).map((m) => [m.author, m.text])).toEqual([[bob.id, 'bob was here']]);
    expect([...fresh.doc.share.keys()].filter((k) => !['messages', 'edits', 'reactions', 'reads'].includes(k))).toEqual(
      [],
    );
    expect(fresh.doc.getMap('reactions').size + fresh.doc.getMap('reads').size).toBe(0);
    // An owner may delete bob's message (moderation), and markup is just text to the server.
    fresh.doc.getArray('messages').delete(0, 1);
    appendMessage(fresh.doc, { id: newMessageId(), author: alice.id, text: '<b>bold?</b>', createdAt: Date.now() });
    await acknowledged(fresh);
    await waitFor(
      () =>
        readMessages(b.doc)
          .map((m) => m.text)
          .join() === '<b>bold?</b>',
      {
        message: "the owner's moderation to reach bob",
      },
    );
  });

  it('applies nothing a reader writes, and relays no presence that claims to be someone else', async () => {
    const alice = await register('alice');
    const rita = await register('rita');
    const roomId = await room(alice, [rita, 'reader']);
    const document = `room:${roomId}`;
    const a = await openSynced(document, alice);
    const seen: unknown[] = [];
    a.provider.awareness?.on('change', () => {
      for (const state of a.provider.awareness?.getStates().values() ?? []) seen.push(structuredClone(state));
    });

    const r = await openSynced(document, rita);
    appendMessage(r.doc, { id: newMessageId(), author: rita.id, text: 'readers cannot write', createdAt: Date.now() });
    r.provider.setAwarenessField('user', { id: alice.id, displayName: 'alice' });
    // Then a truthful state from the same client, which alice must see: by then the lie was handled.
    r.provider.setAwarenessField('user', { id: rita.id, displayName: 'rita' });
    await waitFor(() => seen.some((s) => (s as { user?: { id?: string } }).user?.id === rita.id), {
      message: "rita's own presence to reach alice",
    });
    const impostors = seen.filter((s) => (s as { user?: { id?: string } }).user?.id === alice.id);
    expect(impostors).toEqual([]);

    appendMessage(a.doc, { id: newMessageId(), author: alice.id, text: 'owner writes', createdAt: Date.now() });
    await acknowledged(a);
    const fresh = await openSynced(document, alice);
    expect(readMessages(fresh.doc).map((m) => m.text)).toEqual(['owner writes']);
    expect(readMessages(a.doc).map((m) => m.text)).toEqual(['owner writes']);
  });
});
