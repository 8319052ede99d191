import { AuthClientError, createHttpDirectory, createHttpSessionVerifier } from '@confab/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiClient,
  registerUser,
  startTestAuthServer,
  TEST_INTERNAL_TOKEN,
  type TestAuthServer,
  testClock,
} from '../test-support/harness';

let server: TestAuthServer;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  server = await startTestAuthServer();
  api = apiClient(server.url);
});
afterAll(() => server.stop());

async function roomWithTwo() {
  const owner = await registerUser(api, 'owner');
  const reader = await registerUser(api, 'reader');
  const room = (await api('POST', '/api/rooms', { token: owner.token, body: { name: 'Directory' } })).body.room;
  const { code } = (
    await api('POST', `/api/rooms/${room.id}/invites`, { token: owner.token, body: { role: 'reader' } })
  ).body;
  // Members are listed in the order they joined.
  server.clock.advance(1000);
  await api('POST', `/api/invites/${code}/accept`, { token: reader.token });
  return { owner, reader, roomId: room.id as string };
}

describe('internal endpoints', () => {
  it('refuse callers without the internal token (403) and do not exist when INTERNAL_API_TOKEN is unset (404)', async () => {
    const user = await registerUser(api);
    const noToken = await api('GET', `/internal/users/${user.userId}`);
    expect(noToken.status).toBe(403);
    const userToken = await api('GET', `/internal/users/${user.userId}`, { token: user.token });
    expect(userToken.status).toBe(403);

    const closed = await startTestAuthServer({ env: { INTERNAL_API_TOKEN: '' } });
    try {
      const res = await apiClient(closed.url)('GET', '/internal/users/x', { token: TEST_INTERNAL_TOKEN });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    } finally {
      await closed.stop();
    }
  });

  it('answers room, user and rooms-of-user lookups in the documented shapes', async () => {
    const { owner, reader, roomId } = await roomWithTwo();
    const call = (path: string) => api('GET', path, { token: TEST_INTERNAL_TOKEN });
    const room = await call(`/internal/rooms/${roomId}`);
    expect(room.body).toEqual({
      id: roomId,
      name: 'Directory',
      members: [
        { id: owner.userId, email: owner.email, displayName: expect.any(String), role: 'owner' },
        { id: reader.userId, email: reader.email, displayName: expect.any(String), role: 'reader' },
      ],
    });
    expect((await call(`/internal/users/${reader.userId}`)).body).toEqual({
      id: reader.userId,
      email: reader.email,
      displayName: expect.any(String),
    });
    expect((await call(`/internal/users/${reader.userId}/rooms`)).body).toEqual({
      rooms: [{ id: roomId, name: 'Directory', role: 'reader' }],
    });
    expect((await call('/internal/rooms/nope')).status).toBe(404);
    expect((await call('/internal/users/nope')).status).toBe(404);
  });
});

describe('platform auth client against the real auth server', () => {
  it('verifies a session from a Bearer header or the cookie, and answers null for none or a bad one', async () => {
    const verifier = createHttpSessionVerifier(server.url, TEST_INTERNAL_TOKEN, { cacheMs: 0 });
    const user = await registerUser(api);
    const sessionId = (await api('GET', '/api/auth/sessions', { token: user.token })).body.sessions[0].id;
    expect(await verifier.verify({ authorization: `Bearer ${user.token}` })).toEqual({
      userId: user.userId,
      sessionId,
    });
    expect(await verifier.verify({ cookie: `theme=dark; confab_session=${user.token}` })).toEqual({
      userId: user.userId,
      sessionId,
    });
    expect(await verifier.verify({})).toBeNull();
    expect(await verifier.verify({ cookie: 'confab_session=nope.nope' })).toBeNull();
  });

  it('reuses a positive answer for 5 seconds, then sees a sign-out', async () => {
    const clock = testClock();
    const verifier = createHttpSessionVerifier(server.url, TEST_INTERNAL_TOKEN, { clock });
    const user = await registerUser(api);
    const credentials = { authorization: `Bearer ${user.token}` };
    expect(await verifier.verify(credentials)).not.toBeNull();
    await api('POST', '/api/auth/logout', { token: user.token });
    expect(await verifier.verify(credentials)).not.toBeNull();
    clock.advance(5000);
    expect(await verifier.verify(credentials)).toBeNull();
  });

  it('reads rooms, users and room ids through the Directory port, null for unknown ones', async () => {
    const directory = createHttpDirectory(server.url, TEST_INTERNAL_TOKEN);
    const { owner, reader, roomId } = await roomWithTwo();
    const room = await directory.room(roomId);
    expect(room?.members.map((m) => [m.id, m.role])).toEqual([
      [owner.userId, 'owner'],
      [reader.userId, 'reader'],
    ]);
    expect(await directory.user(owner.userId)).toEqual({
      id: owner.userId,
      email: owner.email,
      displayName: expect.any(String),
    });
    expect(await directory.roomIdsOf(reader.userId)).toEqual([roomId]);
    expect(await directory.room('missing')).toBeNull();
    expect(await directory.user('missing')).toBeNull();
    // The in-process Directory the all-in-one uses answers the same.
    expect(await server.handle.directory.room(roomId)).toEqual(room);
    expect(await server.handle.directory.roomIdsOf(reader.userId)).toEqual([roomId]);
  });

  it('throws AuthClientError (not "no session") with a wrong internal token or an unreachable server', async () => {
    const wrong = createHttpSessionVerifier(server.url, 'wrong-token-wrong-token');
    await expect(wrong.verify({ authorization: 'Bearer a.b' })).rejects.toBeInstanceOf(AuthClientError);
    const down = createHttpDirectory('http://127.0.0.1:1', TEST_INTERNAL_TOKEN, { timeoutMs: 1000 });
    await expect(down.user('x')).rejects.toBeInstanceOf(AuthClientError);
  });

  it('the in-process SessionVerifier agrees with the HTTP one', async () => {
    const user = await registerUser(api);
    const http = createHttpSessionVerifier(server.url, TEST_INTERNAL_TOKEN, { cacheMs: 0 });
    const credentials = { cookie: `confab_session=${user.token}` };
    expect(await server.handle.sessions.verify(credentials)).toEqual(await http.verify(credentials));
  });
});
