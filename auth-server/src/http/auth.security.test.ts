import http from 'node:http';
import { Writable } from 'node:stream';
import { createLogger, openDatabase } from '@confab/platform';
import { createTestPostgres, needService } from '@confab/platform/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAuthConfig } from '../config';
import { startAuthServer } from '../server';
import {
  apiClient,
  registerUser,
  startTestAuthServer,
  TEST_INTERNAL_TOKEN,
  TEST_ORIGIN,
  type TestAuthServer,
  testClock,
} from '../test-support/harness';
import { createMemoryBus } from '../test-support/memory-bus';

/**
 * The auth server as an attacker sees it: forged requests from other
 * origins, spoofed client addresses, probing for accounts, and what its
 * answers and its database give away. See docs/security.md.
 */

let server: TestAuthServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const FOREIGN = 'https://evil.example';

describe('CSRF: cookie-authenticated writes must come from PUBLIC_URL', () => {
  it('refuses every state-changing route carrying the session cookie from a foreign origin or without Origin', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const owner = await registerUser(api, 'owner');
    const room = (await api('POST', '/api/rooms', { token: owner.token, body: { name: 'r' } })).body.room;
    const invite = (await api('POST', `/api/rooms/${room.id}/invites`, { token: owner.token, body: {} })).body;
    const victim = await registerUser(api, 'victim');
    const cookie = `confab_session=${victim.token}`;
    const writes: Array<[string, string, unknown]> = [
      ['POST', '/api/auth/logout', undefined],
      ['PATCH', '/api/auth/me', { displayName: 'pwned' }],
      ['DELETE', '/api/auth/sessions', undefined],
      ['POST', '/api/auth/sync-token', { document: `user:${victim.userId}` }],
      ['POST', '/api/rooms', { name: 'made by evil' }],
      ['POST', `/api/invites/${invite.code}/accept`, undefined],
      ['DELETE', `/api/rooms/${room.id}/members/${victim.userId}`, undefined],
    ];
    for (const [method, path, body] of writes) {
      for (const origin of [FOREIGN, 'null', null]) {
        const res = await api(method, path, { cookie, origin, body });
        expect([method, path, origin, res.status]).toEqual([method, path, origin, 403]);
        expect(res.body.error.code).toBe('bad_origin');
      }
    }
    // Nothing happened: the session still works, the name is unchanged, the victim joined nothing.
    const me = await api('GET', '/api/auth/me', { token: victim.token });
    expect(me.body.user.displayName).not.toBe('pwned');
    expect((await api('GET', '/api/rooms', { token: victim.token })).body.rooms).toEqual([]);
    // The same write from PUBLIC_URL's origin goes through.
    expect(
      (await api('PATCH', '/api/auth/me', { cookie, origin: TEST_ORIGIN, body: { displayName: 'ok' } })).status,
    ).toBe(200);
  });

  it('does not let an Authorization header that is not a Bearer token switch the Origin check off for the cookie', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const victim = await registerUser(api, 'victim');
    const res = await api('POST', '/api/rooms', {
      cookie: `confab_session=${victim.token}`,
      origin: FOREIGN,
      headers: { authorization: 'Basic Zm9vOmJhcg==' },
      body: { name: 'made by evil' },
    });
    expect(res.status).toBe(403);
    expect((await api('GET', '/api/rooms', { token: victim.token })).body.rooms).toEqual([]);
  });

  it('refuses a sign-in from a foreign page (login CSRF), and lets a non-browser client without Origin sign in', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api, 'u');
    const credentials = { email: user.email, password: user.password };
    const foreign = await api('POST', '/api/auth/login', { origin: FOREIGN, body: credentials });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('set-cookie')).toBeNull();
    expect((await api('POST', '/api/auth/login', { body: credentials })).status).toBe(200);
  });
});

describe('login throttling cannot be dodged by spoofing the client address', () => {
  it('ignores X-Forwarded-For when TRUST_PROXY is unset: every guess from one socket counts against it', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    for (let i = 0; i < 50; i++) {
      const res = await api('POST', '/api/auth/login', {
        body: { email: `nobody${i}@example.com`, password: 'guess guess guess' },
        headers: { 'x-forwarded-for': `203.0.113.${i}` },
      });
      expect(res.status).toBe(401);
    }
    const blocked = await api('POST', '/api/auth/login', {
      body: { email: 'nobody-else@example.com', password: 'guess guess guess' },
      headers: { 'x-forwarded-for': '203.0.113.250' },
    });
    expect(blocked.status).toBe(429);
  });

  it('behind a trusted proxy takes the address the proxy appended, not the one the client wrote in front of it', async () => {
    server = await startTestAuthServer({ env: { TRUST_PROXY: '1' } });
    const api = apiClient(server.url);
    // A proxy that appends (nginx proxy_add_x_forwarded_for, scripts/cluster/gateway.ts) turns the
    // client's forged header "1.2.3.4" into "1.2.3.4, <real address>".
    const viaProxy = (forged: string) => ({ 'x-forwarded-for': `${forged}, 198.51.100.7` });
    for (let i = 0; i < 50; i++) {
      const res = await api('POST', '/api/auth/login', {
        body: { email: `spray${i}@example.com`, password: 'guess guess guess' },
        headers: viaProxy(`203.0.113.${i}`),
      });
      expect(res.status).toBe(401);
    }
    const blocked = await api('POST', '/api/auth/login', {
      body: { email: 'spray-next@example.com', password: 'guess guess guess' },
      headers: viaProxy('203.0.113.251'),
    });
    expect(blocked.status).toBe(429);
  });
});

describe('credentials', () => {
  it('lets a Bearer token decide alone: a bad one is refused even when a good cookie comes along', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api, 'u');
    const res = await api('GET', '/api/auth/me', {
      token: 'aaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',
      cookie: `confab_session=${user.token}`,
    });
    expect(res.status).toBe(401);
  });

  it('publishes only public keys in the JWKS, pinned to EdDSA', async () => {
    server = await startTestAuthServer();
    const jwks = await apiClient(server.url)('GET', '/api/auth/jwks');
    expect(jwks.body.keys.length).toBeGreaterThan(0);
    for (const key of jwks.body.keys) {
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key.d).toBeUndefined();
    }
  });
});

const postgres = await needService('postgres');

describe('login throttling under concurrency', () => {
  async function burst(): Promise<{ guessed: number; throttled: number }> {
    const api = apiClient(server!.url);
    const attempts = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        api('POST', '/api/auth/login', { body: { email: `burst${i}@example.com`, password: 'guess guess guess' } }),
      ),
    );
    return {
      guessed: attempts.filter((r) => r.status === 401).length,
      throttled: attempts.filter((r) => r.status === 429).length,
    };
  }

  it.skipIf(!postgres)(
    'lets no more guesses through on PostgreSQL when they arrive all at once, each for another account',
    async () => {
      const pg = await createTestPostgres();
      const database = openDatabase({ databaseUrl: pg.url, dataDir: '.' });
      try {
        server = await startTestAuthServer({ database });
        const { guessed, throttled } = await burst();
        expect(guessed + throttled).toBe(120);
        expect(guessed).toBeLessThanOrEqual(50);
      } finally {
        await server?.stop();
        server = undefined;
        await database.close();
        await pg.drop();
      }
    },
  );

  it('lets no more guesses through from one address when they arrive all at once, each for another account', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const attempts = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        api('POST', '/api/auth/login', { body: { email: `burst${i}@example.com`, password: 'guess guess guess' } }),
      ),
    );
    const guessed = attempts.filter((r) => r.status === 401).length;
    const throttled = attempts.filter((r) => r.status === 429).length;
    expect(guessed + throttled).toBe(120);
    expect(guessed).toBeLessThanOrEqual(50);
  });
});

describe('invites', () => {
  it('lets an owner revoke an invite, after which a removed member cannot come back through it', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const owner = await registerUser(api, 'owner');
    const bob = await registerUser(api, 'bob');
    const room = (await api('POST', '/api/rooms', { token: owner.token, body: { name: 'r' } })).body.room;
    const invite = (await api('POST', `/api/rooms/${room.id}/invites`, { token: owner.token, body: {} })).body;
    expect((await api('POST', `/api/invites/${invite.code}/accept`, { token: bob.token })).status).toBe(200);
    expect((await api('DELETE', `/api/rooms/${room.id}/members/${bob.userId}`, { token: owner.token })).status).toBe(
      204,
    );
    // A member may not revoke the owner's invites; nor may anyone outside the room.
    const revoke = (token: string) => api('DELETE', `/api/rooms/${room.id}/invites/${invite.code}`, { token });
    expect((await revoke(bob.token)).status).toBe(404);
    expect((await revoke(owner.token)).status).toBe(204);
    expect((await revoke(owner.token)).status).toBe(404);
    const back = await api('POST', `/api/invites/${invite.code}/accept`, { token: bob.token });
    expect(back.status).toBe(404);
    expect((await api('GET', '/api/rooms', { token: bob.token })).body.rooms).toEqual([]);
  });

  it('revokes an invite only through its own room', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const owner = await registerUser(api, 'owner');
    const mine = (await api('POST', '/api/rooms', { token: owner.token, body: { name: 'mine' } })).body.room;
    const other = await registerUser(api, 'other');
    const theirs = (await api('POST', '/api/rooms', { token: other.token, body: { name: 'theirs' } })).body.room;
    const invite = (await api('POST', `/api/rooms/${theirs.id}/invites`, { token: other.token, body: {} })).body;
    // Owning some room is not enough to revoke another room's invite.
    expect((await api('DELETE', `/api/rooms/${mine.id}/invites/${invite.code}`, { token: owner.token })).status).toBe(
      404,
    );
    const joiner = await registerUser(api, 'joiner');
    expect((await api('POST', `/api/invites/${invite.code}/accept`, { token: joiner.token })).status).toBe(200);
  });
});

describe('registration', () => {
  it('allows 30 sign-ups from one address in a burst, then one every 10 s, and other addresses meanwhile', async () => {
    server = await startTestAuthServer({ env: { TRUST_PROXY: '1' } });
    const api = apiClient(server.url);
    const signUp = (i: number, address: string) =>
      api('POST', '/api/auth/register', {
        headers: { 'x-forwarded-for': address },
        body: { email: `signup${i}-${address}@example.com`, password: 'correct horse battery', displayName: 'n' },
      });
    for (let i = 0; i < 30; i++) expect((await signUp(i, '203.0.113.1')).status).toBe(201);
    const refused = await signUp(30, '203.0.113.1');
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('rate_limited');
    expect(Number(refused.headers.get('retry-after'))).toBe(10);
    expect((await signUp(31, '203.0.113.2')).status).toBe(201);
    server.clock.advance(10_000);
    expect((await signUp(32, '203.0.113.1')).status).toBe(201);
    expect((await signUp(33, '203.0.113.1')).status).toBe(429);
  });

  it('counts a sign-up for a taken email too, so probing for accounts through registration is throttled', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api, 'taken');
    let taken = 0;
    for (let i = 0; i < 40; i++) {
      const res = await api('POST', '/api/auth/register', {
        body: { email: user.email, password: 'correct horse battery', displayName: 'n' },
      });
      if (res.status === 409) taken++;
      else expect(res.status).toBe(429);
    }
    expect(taken).toBe(29);
  });
});

describe('account probing', () => {
  it('answers a wrong password and an unknown email with the same status, code and message', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api, 'known');
    const wrong = await api('POST', '/api/auth/login', { body: { email: user.email, password: 'not the password' } });
    const unknown = await api('POST', '/api/auth/login', {
      body: { email: 'never-registered@example.com', password: 'not the password' },
    });
    expect(wrong.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    // A short password is a 401 like any wrong one, not a 422 that reveals the length rule.
    const short = await api('POST', '/api/auth/login', { body: { email: user.email, password: 'x' } });
    expect(short.body).toEqual(wrong.body);
  });
});

describe('names', () => {
  it('refuses control characters (line breaks, escapes) in room and display names, naming the field', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api, 'u');
    const room = await api('POST', '/api/rooms', {
      token: user.token,
      body: { name: 'General\r\nBcc: x@evil.example' },
    });
    expect([room.status, room.body.error.field]).toEqual([422, 'name']);
    const created = (await api('POST', '/api/rooms', { token: user.token, body: { name: 'General' } })).body.room;
    const renamed = await api('PATCH', `/api/rooms/${created.id}`, {
      token: user.token,
      body: { name: 'a\u001b[31mred' },
    });
    expect([renamed.status, renamed.body.error.field]).toEqual([422, 'name']);
    const me = await api('PATCH', '/api/auth/me', { token: user.token, body: { displayName: 'Bob\nAdmin' } });
    expect([me.status, me.body.error.field]).toEqual([422, 'displayName']);
    expect((await api('GET', `/api/rooms/${created.id}`, { token: user.token })).body.room.name).toBe('General');
  });
});

describe('what answers and storage give away', () => {
  it('marks every API answer nosniff and, except the public key set, no-store', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api, 'u');
    for (const [method, path] of [
      ['GET', '/api/auth/me'],
      ['GET', '/api/auth/sessions'],
      ['GET', '/api/rooms'],
      ['POST', '/api/auth/sync-token'],
    ] as const) {
      const body = method === 'POST' ? { document: `user:${user.userId}` } : undefined;
      const res = await api(method, path, { token: user.token, body });
      expect([path, res.headers.get('cache-control')]).toEqual([path, 'no-store']);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    const refused = await api('GET', '/api/auth/me');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('x-content-type-options')).toBe('nosniff');
    expect(refused.headers.get('cache-control')).toBe('no-store');
    const jwks = await api('GET', '/api/auth/jwks');
    expect(jwks.headers.get('cache-control')).toBe('public, max-age=300');
  });

  it('keeps only a SHA-256 of session secrets and invite codes, never the tokens themselves', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api, 'u');
    const room = (await api('POST', '/api/rooms', { token: user.token, body: { name: 'r' } })).body.room;
    const invite = (await api('POST', `/api/rooms/${room.id}/invites`, { token: user.token, body: {} })).body;
    const [id, secret] = user.token.split('.') as [string, string];
    expect(secret.length * 5).toBeGreaterThanOrEqual(160); // base32: 5 bits a character
    const sessions = await server.database.db.selectFrom('auth_sessions').selectAll().execute();
    const invites = await server.database.db.selectFrom('auth_invites').selectAll().execute();
    const dump = JSON.stringify([sessions, invites]);
    expect(dump).toContain(id);
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain(invite.code);
    const users = await server.database.db.selectFrom('auth_users').selectAll().execute();
    expect(JSON.stringify(users)).not.toContain(user.password);
    expect(JSON.stringify(users)).toContain('$argon2id$');
  });

  it('refuses a token whose secret differs from the stored one in one character', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api, 'u');
    const last = user.token.at(-1) === 'a' ? 'b' : 'a';
    const forged = `${user.token.slice(0, -1)}${last}`;
    expect((await api('GET', '/api/auth/me', { token: forged })).status).toBe(401);
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(200);
  });

  it('sets Secure on the session cookie when PUBLIC_URL is https, and never on a plain-http one', async () => {
    server = await startTestAuthServer({ env: { PUBLIC_URL: 'https://chat.example.com' } });
    const secure = await apiClient(server.url)('POST', '/api/auth/register', {
      body: { email: 'a@example.com', password: 'correct horse battery', displayName: 'a' },
    });
    expect(secure.headers.get('set-cookie')).toMatch(/; HttpOnly; Secure; SameSite=Lax$/);
    await server.stop();
    server = await startTestAuthServer();
    const plain = await apiClient(server.url)('POST', '/api/auth/register', {
      body: { email: 'a@example.com', password: 'correct horse battery', displayName: 'a' },
    });
    expect(plain.headers.get('set-cookie')).not.toMatch(/Secure/);
  });

  it('answers 413 to a chunked body over 64 KiB that declares no length, and stays up', async () => {
    server = await startTestAuthServer();
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${server!.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(`{"email":"a@example.com","password":"`);
      for (let i = 0; i < 10; i++) req.write('x'.repeat(16 * 1024));
      req.end('"}');
    });
    expect(status).toBe(413);
    expect((await apiClient(server.url)('GET', '/api/auth/jwks')).status).toBe(200);
  });

  it('ignores __proto__ in a JSON body: nothing reaches Object.prototype and the field is not stored', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api, 'u');
    const res = await api('POST', '/api/rooms', {
      token: user.token,
      rawBody: '{"name":"r","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
    });
    expect(res.status).toBe(201);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(res.body.room).sort()).toEqual(['createdAt', 'id', 'name', 'role', 'topic']);
  });

  it('answers a failure inside a route with a bare 500: no stack, no SQL, no file paths', async () => {
    const logLines: string[] = [];
    const logger = createLogger({
      name: 'auth-security',
      level: 'info',
      destination: new Writable({
        write(chunk, _encoding, done) {
          logLines.push(String(chunk));
          done();
        },
      }),
    });
    const database = openDatabase({ dataDir: '.', sqliteFile: ':memory:' });
    const handle = await startAuthServer({
      config: loadAuthConfig({ PUBLIC_URL: TEST_ORIGIN }),
      logger,
      database,
      bus: createMemoryBus(),
      clock: testClock(),
    });
    const httpServer = http.createServer((req, res) => handle.handleRequest(req, res));
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const { port } = httpServer.address() as { port: number };
    try {
      const api = apiClient(`http://127.0.0.1:${port}`);
      const user = await registerUser(api, 'u');
      const login = await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
      expect(login.status).toBe(200);
      const room = (await api('POST', '/api/rooms', { token: user.token, body: { name: 'r' } })).body.room;
      const invite = (await api('POST', `/api/rooms/${room.id}/invites`, { token: user.token, body: {} })).body;
      await database.db.schema.dropTable('auth_members').execute();
      const failed = await api('POST', `/api/invites/${invite.code}/accept`, { token: user.token });
      expect(failed.status).toBe(500);
      expect(failed.body).toEqual({ error: { code: 'internal', message: 'internal error' } });
      await database.db.schema.dropTable('auth_invites').execute();
      await database.db.schema.dropTable('auth_rooms').execute();
      const res = await api('POST', '/api/rooms', { token: user.token, body: { name: 'r' } });
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: { code: 'internal', message: 'internal error' } });
      // The log has the cause; it has no password, session token or cookie in it.
      const log = logLines.join('');
      expect(log).toMatch(/auth_rooms/);
      expect(log).not.toContain(user.password);
      expect(log).not.toContain(user.token);
      expect(log).not.toContain(user.token.split('.')[1]);
      // Not the invite code either: failures are logged by route pattern.
      expect(log).toContain('/api/invites/:code/accept');
      expect(log).not.toContain(invite.code);
    } finally {
      await handle.stop();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await database.close();
    }
  });
});

describe('the internal API', () => {
  function rawGet(base: string, rawPath: string, headers: Record<string, string>): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${base}/`, { path: rawPath, headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('answers only requests sent to /internal itself, not ones a proxy routed as /api/* with dot segments', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api, 'u');
    const auth = { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` };
    expect(await rawGet(server.url, `/internal/users/${user.userId}`, auth)).toBe(200);
    for (const sneak of [
      '/api/auth/../../internal',
      '/api/rooms/%2e%2e/%2e%2e/internal',
      '/api/auth/..%2f..%2finternal',
    ]) {
      const status = await rawGet(server.url, `${sneak}/users/${user.userId}`, auth);
      expect([sneak, status]).toEqual([sneak, 404]);
    }
    expect(
      await rawGet(server.url, `/internal/users/${user.userId}`, { authorization: 'Bearer wrong-token-0123456789' }),
    ).toBe(403);
  });
});
