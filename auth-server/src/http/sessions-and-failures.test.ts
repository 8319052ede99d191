import { Writable } from 'node:stream';
import { createLogger } from '@confab/platform';
import { afterEach, describe, expect, it } from 'vitest';
import { apiClient, registerUser, startTestAuthServer, type TestAuthServer } from '../test-support/harness';

const DAY = 24 * 60 * 60 * 1000;
let server: TestAuthServer | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('session expiry (injected clock)', () => {
  it('ends a session 30 days after its last renewal with 401 session_expired', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api);
    server.clock.advance(30 * DAY);
    const res = await api('GET', '/api/auth/me', { token: user.token });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('session_expired');
    // Refused once, it is gone: the next try is simply unauthenticated.
    expect((await api('GET', '/api/auth/me', { token: user.token })).body.error.code).toBe('unauthenticated');
  });

  it('renews a session used with less than 15 days left, so an active user stays signed in', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api);
    server.clock.advance(20 * DAY);
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(200);
    server.clock.advance(25 * DAY); // 45 days after login, 25 after the renewal
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(200);
    const sessions = await api('GET', '/api/auth/sessions', { token: user.token });
    expect(sessions.body.sessions[0].lastSeenAt).toBe(server.clock());
  });

  it('re-sends the cookie with a fresh 30-day Max-Age when a cookie session is renewed, and not otherwise', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api);
    const cookie = `confab_session=${user.token}`;
    expect((await api('GET', '/api/auth/me', { cookie })).headers.get('set-cookie')).toBeNull();
    server.clock.advance(16 * DAY);
    const renewed = await api('GET', '/api/auth/me', { cookie });
    expect(renewed.status).toBe(200);
    expect(renewed.headers.get('set-cookie')).toMatch(
      new RegExp(`^confab_session=${user.token.replace('.', '\\.')}; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax$`),
    );
    expect((await api('GET', '/api/auth/me', { cookie })).headers.get('set-cookie')).toBeNull();
  });

  it('logout is idempotent: without a valid session it still answers 204 and clears the cookie', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const res = await api('POST', '/api/auth/logout', {
      cookie: 'confab_session=stale.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      origin: 'http://chat.test:3000',
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('set-cookie')).toMatch(/confab_session=;.*Max-Age=0/);
    expect(server.memoryBus.published).toHaveLength(0);
  });

  it('does not renew a session used with more than 15 days left', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api);
    server.clock.advance(10 * DAY);
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(200);
    server.clock.advance(20 * DAY);
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(401);
  });
});

describe('when the bus or the database is down', () => {
  it('still signs out (204, session gone) when the bus cannot take the event, and counts the failure', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api);
    server.memoryBus.failing = true;
    expect((await api('GET', '/readyz')).status).toBe(503);
    expect((await api('POST', '/api/auth/logout', { token: user.token })).status).toBe(204);
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(401);
    const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/confab_auth_event_publish_failures_total\{subject="confab.auth.session.revoked"\} 1/);
  });

  it('answers 500 internal without details and /readyz 503 when the database is gone', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    const user = await registerUser(api);
    await server.database.close();
    const ready = await api('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.services.auth).toBe(false);
    const res = await api('GET', '/api/auth/me', { token: user.token });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'internal', message: 'internal error' } });
    expect(JSON.stringify(res.body)).not.toMatch(/at |sqlite|\.ts/i);
    expect((await api('GET', '/healthz')).status).toBe(200);
  });

  it('answers 503 once stopped, while the process drains', async () => {
    server = await startTestAuthServer();
    const api = apiClient(server.url);
    await server.handle.stop();
    const res = await api('GET', '/api/auth/jwks');
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('unavailable');
  });
});

describe('logs', () => {
  it('never write passwords, tokens, cookies or authorization headers', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ name: 'redaction', level: 'trace', destination: sink });
    logger.info(
      {
        password: 'hunter2 hunter2',
        token: 'abc.secret-token',
        headers: { authorization: 'Bearer abc.secret-token', cookie: 'confab_session=abc.secret-token' },
        body: { password: 'hunter2 hunter2' },
      },
      'login attempt',
    );
    const text = lines.join('');
    expect(text).toContain('login attempt');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('secret-token');
    expect(text).toContain('[redacted]');
  });
});
