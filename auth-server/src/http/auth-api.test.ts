import { waitFor } from '@confab/platform/testing';
import { subjects } from '@confab/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiClient,
  registerUser,
  startTestAuthServer,
  TEST_ORIGIN,
  type TestAuthServer,
} from '../test-support/harness';

let server: TestAuthServer;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  server = await startTestAuthServer();
  api = apiClient(server.url);
});
afterAll(() => server.stop());

function sessionCookieOf(headers: Headers): string {
  const setCookie = headers.get('set-cookie') ?? '';
  const match = /confab_session=([^;]*)/.exec(setCookie);
  if (!match) throw new Error(`no session cookie in ${setCookie}`);
  return `confab_session=${match[1]}`;
}

describe('register', () => {
  it('creates the account with a trimmed, lowercased email and answers 201 with the user, a token and the cookie', async () => {
    const res = await api('POST', '/api/auth/register', {
      body: { email: '  Ada.Lovelace@Example.COM ', password: 'analytical engine', displayName: ' Ada ' },
    });
    expect(res.status).toBe(201);
    expect(res.body.user).toMatchObject({ email: 'ada.lovelace@example.com', displayName: 'Ada' });
    expect(Object.keys(res.body.user).sort()).toEqual(['createdAt', 'displayName', 'email', 'id']);
    expect(res.body.token).toMatch(/^[a-z2-7]+\.[a-z2-7]{32}$/);
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toContain(`confab_session=${res.body.token}`);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).toMatch(/Path=\//);
    expect(cookie).not.toMatch(/Secure/i);
    const me = await api('GET', '/api/auth/me', { token: res.body.token });
    expect(me.body.user.id).toBe(res.body.user.id);
  });

  it('refuses a second account for the same email with 409 email_taken, whatever its case', async () => {
    const first = await registerUser(api, 'dup');
    const res = await api('POST', '/api/auth/register', {
      body: { email: first.email.toUpperCase(), password: 'another password', displayName: 'Dup' },
    });
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ error: { code: 'email_taken', message: expect.any(String), field: 'email' } });
  });

  it('answers 422 naming the field for an invalid email, a short or a too long password and an empty name', async () => {
    const cases = [
      [{ email: 'not-an-email', password: 'long enough pw', displayName: 'X' }, 'email'],
      [{ email: 'a@example.com', password: 'short', displayName: 'X' }, 'password'],
      [{ email: 'a@example.com', password: 'x'.repeat(257), displayName: 'X' }, 'password'],
      [{ email: 'a@example.com', password: 'long enough pw', displayName: '   ' }, 'displayName'],
      [{ email: 'a@example.com', password: 'long enough pw' }, 'displayName'],
    ] as const;
    for (const [body, field] of cases) {
      const res = await api('POST', '/api/auth/register', { body });
      expect(res.status, field).toBe(422);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field });
    }
  });

  it('answers 400 invalid_json to a malformed body and 413 to a body over 64 KiB, storing nothing', async () => {
    const malformed = await api('POST', '/api/auth/register', { rawBody: '{"email": "a@b.c",' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('invalid_json');
    const email = 'big@example.com';
    const huge = await api('POST', '/api/auth/register', {
      body: { email, password: 'long enough pw', displayName: 'x'.repeat(70 * 1024) },
    });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('payload_too_large');
    const login = await api('POST', '/api/auth/login', { body: { email, password: 'long enough pw' } });
    expect(login.status).toBe(401);
  });
});

describe('login and logout', () => {
  it('opens a new session on every login and answers 200 with the user and token', async () => {
    const user = await registerUser(api, 'login');
    const res = await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe(user.userId);
    expect(res.body.token).not.toBe(user.token);
    const sessions = await api('GET', '/api/auth/sessions', { token: res.body.token });
    expect(sessions.body.sessions).toHaveLength(2);
  });

  it('answers 401 invalid_credentials to a wrong password and to an unknown email alike', async () => {
    const user = await registerUser(api, 'wrong');
    const wrong = await api('POST', '/api/auth/login', { body: { email: user.email, password: 'not the password' } });
    const unknown = await api('POST', '/api/auth/login', {
      body: { email: 'nobody@example.com', password: 'not the password' },
    });
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: { code: 'invalid_credentials', message: 'wrong email or password' } });
    }
  });

  it('logout answers 204, ends the session, clears the cookie and publishes session.revoked', async () => {
    const user = await registerUser(api, 'logout');
    const me = await api('GET', '/api/auth/sessions', { token: user.token });
    const sessionId = me.body.sessions[0].id;
    const res = await api('POST', '/api/auth/logout', { token: user.token });
    expect(res.status).toBe(204);
    expect(res.headers.get('set-cookie')).toMatch(/confab_session=;.*Max-Age=0/i);
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(401);
    expect(server.memoryBus.eventsOn(subjects.sessionRevoked)).toContainEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      sessionId,
      userId: user.userId,
    });
  });

  it("ends the session of another account whose cookie a login replaces, and keeps the same account's and a Bearer token", async () => {
    const previous = await registerUser(api, 'shared-a');
    const next = await registerUser(api, 'shared-b');
    const sessionId = (await api('GET', '/api/auth/sessions', { token: previous.token })).body.sessions[0].id;
    const login = (cookieToken: string | null, bearer?: string) =>
      api('POST', '/api/auth/login', {
        body: { email: next.email, password: next.password },
        origin: TEST_ORIGIN,
        ...(cookieToken ? { cookie: `confab_session=${cookieToken}` } : {}),
        ...(bearer ? { token: bearer } : {}),
      });

    // A Bearer token is not replaced by the cookie the answer sets: it stays its holder's.
    expect((await login(null, previous.token)).status).toBe(200);
    expect((await api('GET', '/api/auth/me', { token: previous.token })).status).toBe(200);
    // The same account's cookie: that session stays (its sync socket would close as revoked otherwise).
    expect((await login(next.token)).status).toBe(200);
    expect((await api('GET', '/api/auth/me', { token: next.token })).status).toBe(200);

    const res = await login(previous.token);
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe(next.userId);
    expect((await api('GET', '/api/auth/me', { token: previous.token })).status).toBe(401);
    expect(server.memoryBus.eventsOn(subjects.sessionRevoked)).toContainEqual({
      id: expect.any(String),
      sessionId,
      userId: previous.userId,
    });
    // A cookie that authenticates nothing (forged, or already ended) is simply replaced.
    expect((await login(previous.token)).status).toBe(200);
    expect((await login('garbage')).status).toBe(200);
  });

  it('answers 401 unauthenticated without a session, with a forged token and with a token of a deleted session', async () => {
    expect((await api('GET', '/api/auth/me')).body.error.code).toBe('unauthenticated');
    const user = await registerUser(api, 'forged');
    const [id] = user.token.split('.');
    const forged = `${id}.${'a'.repeat(32)}`;
    const res = await api('GET', '/api/auth/me', { token: forged });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthenticated');
    expect((await api('GET', '/api/auth/me', { token: 'garbage' })).status).toBe(401);
  });
});

describe('profile and sessions', () => {
  it('PATCH /api/auth/me changes the display name and GET shows it', async () => {
    const user = await registerUser(api, 'profile');
    const res = await api('PATCH', '/api/auth/me', { token: user.token, body: { displayName: 'New Name' } });
    expect(res.status).toBe(200);
    expect(res.body.user.displayName).toBe('New Name');
    expect((await api('GET', '/api/auth/me', { token: user.token })).body.user.displayName).toBe('New Name');
    const bad = await api('PATCH', '/api/auth/me', { token: user.token, body: { displayName: 42 } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe('displayName');
  });

  it('lists sessions with the current one marked and the user agent, and signs another device out', async () => {
    const user = await registerUser(api, 'devices');
    const phone = await api('POST', '/api/auth/login', {
      body: { email: user.email, password: user.password },
      headers: { 'user-agent': 'ConfabPhone/1.0' },
    });
    const list = await api('GET', '/api/auth/sessions', { token: user.token });
    expect(list.status).toBe(200);
    const sessions = list.body.sessions as { id: string; current: boolean; userAgent: string | null }[];
    expect(sessions).toHaveLength(2);
    expect(sessions.filter((s) => s.current)).toHaveLength(1);
    const phoneSession = sessions.find((s) => s.userAgent === 'ConfabPhone/1.0');
    expect(phoneSession?.current).toBe(false);
    expect(Object.keys(phoneSession ?? {}).sort()).toEqual(['createdAt', 'current', 'id', 'lastSeenAt', 'userAgent']);

    const del = await api('DELETE', `/api/auth/sessions/${phoneSession?.id}`, { token: user.token });
    expect(del.status).toBe(204);
    expect((await api('GET', '/api/auth/me', { token: phone.body.token })).status).toBe(401);
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(200);
    expect(server.memoryBus.eventsOn(subjects.sessionRevoked)).toContainEqual(
      expect.objectContaining({ sessionId: phoneSession?.id, userId: user.userId }),
    );
  });

  it('signs out every device of the user with DELETE /api/auth/sessions, one session.revoked each', async () => {
    const user = await registerUser(api, 'everywhere');
    const other = await registerUser(api, 'bystander');
    const second = await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
    const ids = (await api('GET', '/api/auth/sessions', { token: user.token })).body.sessions.map(
      (s: { id: string }) => s.id,
    );
    expect((await api('DELETE', '/api/auth/sessions', { token: second.body.token })).status).toBe(204);
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(401);
    expect((await api('GET', '/api/auth/me', { token: second.body.token })).status).toBe(401);
    expect((await api('GET', '/api/auth/me', { token: other.token })).status).toBe(200);
    const revoked = server.memoryBus.eventsOn(subjects.sessionRevoked).filter((e) => e.userId === user.userId);
    expect(revoked.map((e) => e.sessionId).sort()).toEqual([...ids].sort());
  });

  it("answers 404 when deleting an unknown session or someone else's", async () => {
    const alice = await registerUser(api, 'alice');
    const bob = await registerUser(api, 'bob');
    const bobSessions = await api('GET', '/api/auth/sessions', { token: bob.token });
    const res = await api('DELETE', `/api/auth/sessions/${bobSessions.body.sessions[0].id}`, { token: alice.token });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
    expect((await api('DELETE', '/api/auth/sessions/nosuchsession', { token: alice.token })).status).toBe(404);
    expect((await api('GET', '/api/auth/me', { token: bob.token })).status).toBe(200);
  });
});

describe('CSRF', () => {
  it('refuses a cookie-authenticated write without an Origin or from another origin with 403 bad_origin', async () => {
    const user = await registerUser(api, 'csrf');
    const cookie = `confab_session=${user.token}`;
    const missing = await api('PATCH', '/api/auth/me', { cookie, body: { displayName: 'Evil' } });
    expect(missing.status).toBe(403);
    expect(missing.body.error.code).toBe('bad_origin');
    const foreign = await api('PATCH', '/api/auth/me', {
      cookie,
      origin: 'https://evil.example',
      body: { displayName: 'Evil' },
    });
    expect(foreign.status).toBe(403);
    const me = await api('GET', '/api/auth/me', { cookie });
    expect(me.status).toBe(200);
    expect(me.body.user.displayName).not.toBe('Evil');
  });

  it('accepts a cookie-authenticated write from PUBLIC_URL and any Bearer write', async () => {
    const user = await registerUser(api, 'csrf-ok');
    const cookie = `confab_session=${user.token}`;
    const same = await api('PATCH', '/api/auth/me', { cookie, origin: TEST_ORIGIN, body: { displayName: 'Same' } });
    expect(same.status).toBe(200);
    const bearer = await api('PATCH', '/api/auth/me', {
      token: user.token,
      origin: 'https://other-client.example',
      body: { displayName: 'Bearer' },
    });
    expect(bearer.status).toBe(200);
  });

  it('refuses a login posted from a foreign page (login CSRF) but not one without an Origin', async () => {
    const user = await registerUser(api, 'login-csrf');
    const foreign = await api('POST', '/api/auth/login', {
      origin: 'https://evil.example',
      body: { email: user.email, password: user.password },
    });
    expect(foreign.status).toBe(403);
    const cli = await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
    expect(cli.status).toBe(200);
  });

  it('lets the session cookie it set authenticate a same-origin browser', async () => {
    const user = await registerUser(api, 'cookie');
    const login = await api('POST', '/api/auth/login', {
      origin: TEST_ORIGIN,
      body: { email: user.email, password: user.password },
    });
    const cookie = sessionCookieOf(login.headers);
    const me = await api('GET', '/api/auth/me', { cookie });
    expect(me.body.user.id).toBe(user.userId);
    const logout = await api('POST', '/api/auth/logout', { cookie, origin: TEST_ORIGIN });
    expect(logout.status).toBe(204);
    expect((await api('GET', '/api/auth/me', { cookie })).status).toBe(401);
  });
});

describe('routing and errors', () => {
  it('answers unknown routes under its prefixes with a JSON 404', async () => {
    for (const path of ['/api/auth/nope', '/api/invites', '/somewhere']) {
      const res = await api('GET', path);
      expect(res.status, path).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
  });

  it('echoes a sane x-request-id and makes one otherwise', async () => {
    const kept = await api('GET', '/api/auth/jwks', { headers: { 'x-request-id': 'req-123' } });
    expect(kept.headers.get('x-request-id')).toBe('req-123');
    const made = await api('GET', '/api/auth/jwks', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('serves /healthz, /readyz and confab_auth_* metrics', async () => {
    expect((await api('GET', '/healthz')).status).toBe(200);
    const ready = await api('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.services).toEqual({ auth: true });
    const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
    expect(metrics).toContain('confab_auth_http_request_duration_seconds_bucket');
    expect(metrics).toMatch(/confab_auth_logins_total\{outcome="success"\} [1-9]/);
    expect(metrics).toContain('route="/api/auth/login"');
  });
});

describe('https deployments', () => {
  it('marks the session cookie Secure when PUBLIC_URL is https', async () => {
    const secure = await startTestAuthServer({ env: { PUBLIC_URL: 'https://chat.example.com' } });
    try {
      const res = await apiClient(secure.url)('POST', '/api/auth/register', {
        body: { email: 'secure@example.com', password: 'long enough pw', displayName: 'S' },
      });
      expect(res.headers.get('set-cookie')).toMatch(/; Secure/);
    } finally {
      await secure.stop();
    }
  });
});

describe('password change', () => {
  const newPassword = 'a much better passphrase';

  it('sets the new password, ends every other session of the user with session.revoked, and keeps this one', async () => {
    const user = await registerUser(api, 'rekey');
    const bystander = await registerUser(api, 'rekey-bystander');
    const login = () => api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
    const [laptop, phone] = [await login(), await login()];
    const others = (await api('GET', '/api/auth/sessions', { token: user.token })).body.sessions
      .filter((s: { current: boolean }) => !s.current)
      .map((s: { id: string }) => s.id);
    expect(others).toHaveLength(2);

    const res = await api('POST', '/api/auth/password', {
      token: user.token,
      body: { currentPassword: user.password, newPassword },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ signedOutSessions: 2 });
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(200);
    for (const device of [laptop, phone]) {
      expect((await api('GET', '/api/auth/me', { token: device.body.token })).status).toBe(401);
    }
    expect((await api('GET', '/api/auth/me', { token: bystander.token })).status).toBe(200);
    const revoked = server.memoryBus.eventsOn(subjects.sessionRevoked).filter((e) => e.userId === user.userId);
    expect(revoked.map((e) => e.sessionId).sort()).toEqual([...others].sort());

    expect((await login()).body.error.code).toBe('invalid_credentials');
    const withNew = await api('POST', '/api/auth/login', { body: { email: user.email, password: newPassword } });
    expect(withNew.status).toBe(200);
  });

  it('answers a wrong current password with 422 on currentPassword, changing nothing and ending no session', async () => {
    const user = await registerUser(api, 'rekey-wrong');
    const phone = await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
    const res = await api('POST', '/api/auth/password', {
      token: user.token,
      body: { currentPassword: 'not the password', newPassword },
    });
    expect(res.status).toBe(422);
    expect(res.body).toEqual({
      error: { code: 'invalid_field', message: 'the current password is wrong', field: 'currentPassword' },
    });
    // Not a 401: the client would take that for a lost session and sign the user out.
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(200);
    expect((await api('GET', '/api/auth/me', { token: phone.body.token })).status).toBe(200);
    const login = await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
    expect(login.status).toBe(200);
  });

  it('refuses a new password outside the rules, a malformed body and a caller without a session', async () => {
    const user = await registerUser(api, 'rekey-rules');
    const short = await api('POST', '/api/auth/password', {
      token: user.token,
      body: { currentPassword: user.password, newPassword: 'short' },
    });
    expect(short.status).toBe(422);
    expect(short.body.error.field).toBe('newPassword');
    const missing = await api('POST', '/api/auth/password', { token: user.token, body: { newPassword } });
    expect(missing.status).toBe(422);
    expect(missing.body.error.field).toBe('currentPassword');
    const garbage = await api('POST', '/api/auth/password', { token: user.token, rawBody: '{"currentPassword":' });
    expect(garbage.status).toBe(400);
    expect(garbage.body.error.code).toBe('invalid_json');
    const anonymous = await api('POST', '/api/auth/password', {
      body: { currentPassword: user.password, newPassword },
    });
    expect(anonymous.status).toBe(401);
    const login = await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
    expect(login.status).toBe(200);
  });

  it('counts wrong current passwords against the login throttle: after five, even the right one waits', async () => {
    const user = await registerUser(api, 'rekey-guess');
    const attempt = (currentPassword: string) =>
      api('POST', '/api/auth/password', { token: user.token, body: { currentPassword, newPassword } });
    for (let i = 0; i < 5; i++) expect((await attempt(`guess number ${i}`)).status).toBe(422);
    const blocked = await attempt(user.password);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('rate_limited');
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    // The same account's sign-in waits too: one budget of guesses, whichever way they come.
    const login = await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
    expect(login.status).toBe(429);
  });
});

describe('forgotten password', () => {
  const newPassword = 'remembered at last, 2026';
  const resetEventsFor = (userId: string) =>
    server.memoryBus.eventsOn(subjects.passwordResetRequested).filter((e) => e.userId === userId) as unknown as Array<{
      token: string;
      expiresAt: number;
      email: string;
    }>;

  async function requestLink(user: { userId: string; email: string }, count = 1): Promise<string> {
    const res = await api('POST', '/api/auth/password-reset', { body: { email: user.email.toUpperCase() } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({});
    await waitFor(() => resetEventsFor(user.userId).length >= count);
    return resetEventsFor(user.userId).at(-1)!.token;
  }

  it('answers 202 with the same empty body for an unknown address, and sends nothing', async () => {
    const before = server.memoryBus.eventsOn(subjects.passwordResetRequested).length;
    const res = await api('POST', '/api/auth/password-reset', { body: { email: 'nobody-here@example.com' } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({});
    await new Promise((r) => setTimeout(r, 100));
    expect(server.memoryBus.eventsOn(subjects.passwordResetRequested)).toHaveLength(before);
  });

  it('emails a link whose token sets a new password once, ends every session and signs this browser in', async () => {
    const user = await registerUser(api, 'forgot');
    const phone = await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
    const token = await requestLink(user);
    const event = resetEventsFor(user.userId)[0]!;
    expect(event).toMatchObject({ email: user.email, expiresAt: server.clock() + 30 * 60_000 });
    expect(token).toMatch(/^[a-z2-7]{32}$/);

    const res = await api('POST', '/api/auth/password-reset/confirm', { body: { token, newPassword } });
    expect(res.status).toBe(200);
    expect(res.body.user.email).toBe(user.email);
    expect(sessionCookieOf(res.headers)).toMatch(/^confab_session=.+/);
    expect((await api('GET', '/api/auth/me', { token: res.body.token })).status).toBe(200);
    for (const old of [user.token, phone.body.token]) {
      expect((await api('GET', '/api/auth/me', { token: old })).status).toBe(401);
    }
    expect(server.memoryBus.eventsOn(subjects.sessionRevoked).filter((e) => e.userId === user.userId)).toHaveLength(2);
    const oldLogin = await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
    expect(oldLogin.status).toBe(401);
    const newLogin = await api('POST', '/api/auth/login', { body: { email: user.email, password: newPassword } });
    expect(newLogin.status).toBe(200);

    const again = await api('POST', '/api/auth/password-reset/confirm', {
      body: { token, newPassword: 'and once more, please' },
    });
    expect(again.status).toBe(422);
    expect(again.body.error).toEqual({
      code: 'invalid_field',
      message: 'this link is not valid any more: it was used, or it expired',
      field: 'token',
    });
  });

  it('refuses an expired link, a forged one and one made before a newer link was used', async () => {
    const user = await registerUser(api, 'forgot-late');
    const first = await requestLink(user, 1);
    const second = await requestLink(user, 2);
    const confirm = (token: string) =>
      api('POST', '/api/auth/password-reset/confirm', { body: { token, newPassword } });
    expect((await confirm('a'.repeat(32))).status).toBe(422);
    server.clock.advance(30 * 60_000 + 1);
    expect((await confirm(second)).status).toBe(422);
    server.clock.advance(-(30 * 60_000 + 1));
    // `second` was taken (expired) above; `first` still works, and using it ends any other link.
    expect((await confirm(first)).status).toBe(200);
    const third = await requestLink(user, 3);
    // An account is sent at most three links an hour: a fourth request is answered alike and sends nothing.
    expect((await api('POST', '/api/auth/password-reset', { body: { email: user.email } })).status).toBe(202);
    await new Promise((r) => setTimeout(r, 200));
    expect(resetEventsFor(user.userId)).toHaveLength(3);
    expect((await confirm(third)).status).toBe(200);
  });

  it('keeps the session of a browser still signed in to the account, ending the others', async () => {
    const user = await registerUser(api, 'forgot-signed-in');
    const phone = await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
    const token = await requestLink(user);
    const res = await api('POST', '/api/auth/password-reset/confirm', {
      token: user.token,
      body: { token, newPassword },
    });
    expect(res.status).toBe(200);
    expect(res.body.token).toBe(user.token);
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(200);
    expect((await api('GET', '/api/auth/me', { token: phone.body.token })).status).toBe(401);
  });

  it('ends the session of another account signed in on the browser that opens the link', async () => {
    const user = await registerUser(api, 'forgot-shared');
    const other = await registerUser(api, 'forgot-shared-other');
    const token = await requestLink(user);
    const res = await api('POST', '/api/auth/password-reset/confirm', {
      cookie: `confab_session=${other.token}`,
      origin: TEST_ORIGIN,
      body: { token, newPassword },
    });
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe(user.userId);
    expect((await api('GET', '/api/auth/me', { token: res.body.token })).status).toBe(200);
    expect((await api('GET', '/api/auth/me', { token: other.token })).status).toBe(401);
  });

  it('checks the new password before it uses the link, and answers malformed bodies', async () => {
    const user = await registerUser(api, 'forgot-rules');
    const token = await requestLink(user);
    // A foreign page cannot spend a link to sign a browser into someone's account (login CSRF).
    const foreign = await api('POST', '/api/auth/password-reset/confirm', {
      body: { token, newPassword },
      headers: { origin: 'https://evil.example' },
    });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe('bad_origin');
    const short = await api('POST', '/api/auth/password-reset/confirm', { body: { token, newPassword: 'short' } });
    expect(short.status).toBe(422);
    expect(short.body.error.field).toBe('newPassword');
    const garbage = await api('POST', '/api/auth/password-reset', { rawBody: '{"email":' });
    expect(garbage.body.error.code).toBe('invalid_json');
    const notEmail = await api('POST', '/api/auth/password-reset', { body: { email: 'not an email' } });
    expect(notEmail.body.error.field).toBe('email');
    // The link survived the refused attempt.
    expect((await api('POST', '/api/auth/password-reset/confirm', { body: { token, newPassword } })).status).toBe(200);
  });

  it('answers an address that asks too often with 429 and Retry-After', async () => {
    let refused: Awaited<ReturnType<typeof api>> | null = null;
    // The bucket holds 20; this file's other requests took some already.
    for (let i = 0; i < 21 && !refused; i++) {
      const res = await api('POST', '/api/auth/password-reset', { body: { email: `flood-${i}@example.com` } });
      if (res.status === 429) refused = res;
      else expect(res.status).toBe(202);
    }
    expect(refused?.body.error.code).toBe('rate_limited');
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThan(0);
    server.clock.advance(30_000);
    const later = await api('POST', '/api/auth/password-reset', { body: { email: 'flood-later@example.com' } });
    expect(later.status).toBe(202);
  });
});
