import { subjects } from '@confab/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiClient,
  registerUser,
  startTestAuthServer,
  TEST_PUBLIC_URL,
  type TestAuthServer,
} from '../test-support/harness';

let server: TestAuthServer;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  server = await startTestAuthServer();
  api = apiClient(server.url);
});
afterAll(() => server.stop());

async function roomWithOwner(name = 'Lobby') {
  const owner = await registerUser(api, 'owner');
  const res = await api('POST', '/api/rooms', { token: owner.token, body: { name, topic: 'general chat' } });
  if (res.status !== 201) throw new Error(`create room failed: ${res.status}`);
  return { owner, room: res.body.room as { id: string; name: string; topic: string; role: string } };
}

async function invite(token: string, roomId: string, body: Record<string, unknown> = {}) {
  const res = await api('POST', `/api/rooms/${roomId}/invites`, { token, body });
  if (res.status !== 201) throw new Error(`invite failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { code: string; url: string };
}

describe('rooms', () => {
  it('creates a room with the caller as owner, answers 201 and publishes membership.changed', async () => {
    const { owner, room } = await roomWithOwner();
    expect(room).toEqual({
      id: expect.any(String),
      name: 'Lobby',
      topic: 'general chat',
      createdAt: expect.any(Number),
      role: 'owner',
    });
    expect(server.memoryBus.eventsOn(subjects.membershipChanged)).toContainEqual({
      id: expect.any(String),
      roomId: room.id,
      userId: owner.userId,
      role: 'owner',
    });
    const list = await api('GET', '/api/rooms', { token: owner.token });
    expect(list.body.rooms).toEqual([room]);
  });

  it('answers 422 naming the field for an empty or missing name', async () => {
    const user = await registerUser(api);
    for (const body of [{ name: '  ' }, {}, { name: 'ok', topic: 'x'.repeat(501) }]) {
      const res = await api('POST', '/api/rooms', { token: user.token, body });
      expect(res.status).toBe(422);
      expect(res.body.error.field).toBe('name' in body && body.name === 'ok' ? 'topic' : 'name');
    }
  });

  it('shows a room and its members to members only; to others it does not exist (404)', async () => {
    const { owner, room } = await roomWithOwner();
    const res = await api('GET', `/api/rooms/${room.id}`, { token: owner.token });
    expect(res.status).toBe(200);
    expect(res.body.room.role).toBe('owner');
    expect(res.body.members).toEqual([{ userId: owner.userId, displayName: expect.any(String), role: 'owner' }]);
    const stranger = await registerUser(api, 'stranger');
    const hidden = await api('GET', `/api/rooms/${room.id}`, { token: stranger.token });
    expect(hidden.status).toBe(404);
    expect((await api('GET', '/api/rooms/not-a-room', { token: owner.token })).status).toBe(404);
  });

  it('lets only an owner rename a room (403 for a member)', async () => {
    const { owner, room } = await roomWithOwner();
    const member = await registerUser(api, 'member');
    const { code } = await invite(owner.token, room.id);
    await api('POST', `/api/invites/${code}/accept`, { token: member.token });
    const denied = await api('PATCH', `/api/rooms/${room.id}`, { token: member.token, body: { name: 'Mine' } });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('forbidden');
    const ok = await api('PATCH', `/api/rooms/${room.id}`, {
      token: owner.token,
      body: { name: 'Renamed', topic: '' },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.room).toMatchObject({ name: 'Renamed', topic: '', role: 'owner' });
  });

  it('needs a session for every room call (401)', async () => {
    expect((await api('GET', '/api/rooms')).status).toBe(401);
    expect((await api('POST', '/api/rooms', { body: { name: 'x' } })).status).toBe(401);
  });
});

describe('invites', () => {
  it('makes an invite url under PUBLIC_URL with an unguessable code, owner only', async () => {
    const { owner, room } = await roomWithOwner();
    const created = await invite(owner.token, room.id);
    expect(created.code).toMatch(/^[a-z2-7]{32}$/);
    expect(created.url).toBe(`${TEST_PUBLIC_URL}/invite/${created.code}`);
    const member = await registerUser(api);
    await api('POST', `/api/invites/${created.code}/accept`, { token: member.token });
    const denied = await api('POST', `/api/rooms/${room.id}/invites`, { token: member.token, body: {} });
    expect(denied.status).toBe(403);
    const bad = await api('POST', `/api/rooms/${room.id}/invites`, { token: owner.token, body: { role: 'owner' } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe('role');
  });

  it('joins with the invite role, publishes membership.changed, and accepting again changes nothing', async () => {
    const { owner, room } = await roomWithOwner();
    const { code } = await invite(owner.token, room.id, { role: 'reader', maxUses: 2 });
    const reader = await registerUser(api, 'reader');
    const first = await api('POST', `/api/invites/${code}/accept`, { token: reader.token });
    expect(first.status).toBe(200);
    expect(first.body.room).toMatchObject({ id: room.id, name: 'Lobby', role: 'reader' });
    const events = () =>
      server.memoryBus
        .eventsOn(subjects.membershipChanged)
        .filter((e) => e.roomId === room.id && e.userId === reader.userId);
    expect(events()).toEqual([expect.objectContaining({ role: 'reader' })]);
    const again = await api('POST', `/api/invites/${code}/accept`, { token: reader.token });
    expect(again.status).toBe(200);
    expect(again.body.room.role).toBe('reader');
    expect(events()).toHaveLength(1);
    // The repeat used no slot: one more person can still join with maxUses 2.
    const second = await registerUser(api);
    expect((await api('POST', `/api/invites/${code}/accept`, { token: second.token })).status).toBe(200);
  });

  it('refuses a used-up invite with 409 invite_exhausted and an unknown one with 404', async () => {
    const { owner, room } = await roomWithOwner();
    const { code } = await invite(owner.token, room.id, { maxUses: 1 });
    const a = await registerUser(api);
    const b = await registerUser(api);
    expect((await api('POST', `/api/invites/${code}/accept`, { token: a.token })).status).toBe(200);
    const late = await api('POST', `/api/invites/${code}/accept`, { token: b.token });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('invite_exhausted');
    expect((await api('GET', `/api/rooms/${room.id}`, { token: b.token })).status).toBe(404);
    const unknown = await api('POST', `/api/invites/${'a'.repeat(32)}/accept`, { token: b.token });
    expect(unknown.status).toBe(404);
  });

  it('refuses an expired invite with 410 invite_expired (injected clock)', async () => {
    const { owner, room } = await roomWithOwner();
    const { code } = await invite(owner.token, room.id, { expiresInSeconds: 3600 });
    const late = await registerUser(api);
    server.clock.advance(3600 * 1000);
    const res = await api('POST', `/api/invites/${code}/accept`, { token: late.token });
    expect(res.status).toBe(410);
    expect(res.body.error.code).toBe('invite_expired');
  });
});

describe('invite preview (GET /api/invites/:code)', () => {
  it('names the room, the role, the expiry and the uses left without using the invite', async () => {
    const { owner, room } = await roomWithOwner('Preview room');
    const { code } = await invite(owner.token, room.id, { role: 'reader', maxUses: 1, expiresInSeconds: 3600 });
    const guest = await registerUser(api, 'guest');
    for (let i = 0; i < 2; i++) {
      const res = await api('GET', `/api/invites/${code}`, { token: guest.token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        room: { id: room.id, name: 'Preview room', topic: 'general chat' },
        role: 'reader',
        expiresAt: server.clock() + 3600 * 1000,
        usesLeft: 1,
      });
    }
    // Looking did not join and did not spend the only use.
    expect((await api('GET', `/api/rooms/${room.id}`, { token: guest.token })).status).toBe(404);
    expect((await api('POST', `/api/invites/${code}/accept`, { token: guest.token })).status).toBe(200);
  });

  it('answers null expiresAt and usesLeft for an invite without limits', async () => {
    const { owner, room } = await roomWithOwner();
    const { code } = await invite(owner.token, room.id);
    const res = await api('GET', `/api/invites/${code}`, { token: (await registerUser(api)).token });
    expect(res.body).toMatchObject({ role: 'member', expiresAt: null, usesLeft: null });
  });

  it('answers 401 without a session, so codes cannot be probed anonymously', async () => {
    const { owner, room } = await roomWithOwner();
    const { code } = await invite(owner.token, room.id);
    const res = await api('GET', `/api/invites/${code}`);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthenticated');
    expect(JSON.stringify(res.body)).not.toContain(room.id);
  });

  it('answers 404 for an unknown, malformed or revoked code, 409 used up and 410 expired', async () => {
    const { owner, room } = await roomWithOwner();
    const viewer = await registerUser(api);
    const get = (code: string) => api('GET', `/api/invites/${code}`, { token: viewer.token });
    for (const code of ['a'.repeat(32), 'NOT-A-CODE']) {
      const res = await get(code);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    const revoked = await invite(owner.token, room.id);
    expect((await get(revoked.code)).status).toBe(200);
    await api('DELETE', `/api/rooms/${room.id}/invites/${revoked.code}`, { token: owner.token });
    expect((await get(revoked.code)).status).toBe(404);

    const single = await invite(owner.token, room.id, { maxUses: 1 });
    await api('POST', `/api/invites/${single.code}/accept`, { token: (await registerUser(api)).token });
    const usedUp = await get(single.code);
    expect(usedUp.status).toBe(409);
    expect(usedUp.body.error.code).toBe('invite_exhausted');

    const shortLived = await invite(owner.token, room.id, { expiresInSeconds: 60 });
    server.clock.advance(60 * 1000);
    const expired = await get(shortLived.code);
    expect(expired.status).toBe(410);
    expect(expired.body.error.code).toBe('invite_expired');
  });
});

describe('members', () => {
  async function roomWithMember() {
    const { owner, room } = await roomWithOwner();
    const member = await registerUser(api, 'member');
    const { code } = await invite(owner.token, room.id);
    await api('POST', `/api/invites/${code}/accept`, { token: member.token });
    return { owner, member, room };
  }

  it('lets an owner change a role (204), publishing membership.changed with the new role', async () => {
    const { owner, member, room } = await roomWithMember();
    const res = await api('PATCH', `/api/rooms/${room.id}/members/${member.userId}`, {
      token: owner.token,
      body: { role: 'reader' },
    });
    expect(res.status).toBe(204);
    const view = await api('GET', `/api/rooms/${room.id}`, { token: member.token });
    expect(view.body.room.role).toBe('reader');
    expect(server.memoryBus.eventsOn(subjects.membershipChanged).at(-1)).toMatchObject({
      roomId: room.id,
      userId: member.userId,
      role: 'reader',
    });
  });

  it('refuses role changes by non-owners (403), to non-members (404) and with a bad role (422)', async () => {
    const { owner, member, room } = await roomWithMember();
    const byMember = await api('PATCH', `/api/rooms/${room.id}/members/${owner.userId}`, {
      token: member.token,
      body: { role: 'reader' },
    });
    expect(byMember.status).toBe(403);
    const stranger = await registerUser(api);
    const toStranger = await api('PATCH', `/api/rooms/${room.id}/members/${stranger.userId}`, {
      token: owner.token,
      body: { role: 'member' },
    });
    expect(toStranger.status).toBe(404);
    const bad = await api('PATCH', `/api/rooms/${room.id}/members/${member.userId}`, {
      token: owner.token,
      body: { role: 'admin' },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe('role');
  });

  it('refuses to let the last owner demote themselves or leave (409), and allows it once there is another owner', async () => {
    const { owner, member, room } = await roomWithMember();
    const demote = await api('PATCH', `/api/rooms/${room.id}/members/${owner.userId}`, {
      token: owner.token,
      body: { role: 'member' },
    });
    expect(demote.status).toBe(409);
    expect(demote.body.error.code).toBe('conflict');
    const leave = await api('DELETE', `/api/rooms/${room.id}/members/${owner.userId}`, { token: owner.token });
    expect(leave.status).toBe(409);
    await api('PATCH', `/api/rooms/${room.id}/members/${member.userId}`, {
      token: owner.token,
      body: { role: 'owner' },
    });
    expect((await api('DELETE', `/api/rooms/${room.id}/members/${owner.userId}`, { token: owner.token })).status).toBe(
      204,
    );
    expect((await api('GET', `/api/rooms/${room.id}`, { token: owner.token })).status).toBe(404);
  });

  it('lets a member leave and an owner remove someone (204, role null event), but not a member remove another (403)', async () => {
    const { owner, member, room } = await roomWithMember();
    const other = await registerUser(api);
    const { code } = await invite(owner.token, room.id);
    await api('POST', `/api/invites/${code}/accept`, { token: other.token });
    const denied = await api('DELETE', `/api/rooms/${room.id}/members/${other.userId}`, { token: member.token });
    expect(denied.status).toBe(403);
    expect(
      (await api('DELETE', `/api/rooms/${room.id}/members/${member.userId}`, { token: member.token })).status,
    ).toBe(204);
    expect(server.memoryBus.eventsOn(subjects.membershipChanged).at(-1)).toMatchObject({
      roomId: room.id,
      userId: member.userId,
      role: null,
    });
    expect((await api('DELETE', `/api/rooms/${room.id}/members/${other.userId}`, { token: owner.token })).status).toBe(
      204,
    );
    const members = await api('GET', `/api/rooms/${room.id}`, { token: owner.token });
    expect(members.body.members.map((m: { userId: string }) => m.userId)).toEqual([owner.userId]);
    const rooms = await api('GET', '/api/rooms', { token: member.token });
    expect(rooms.body.rooms).toEqual([]);
  });
});

describe('deleting one’s account', () => {
  it('needs the password, is refused while the user is a room’s only owner, then deletes and announces it', async () => {
    const { owner: leaver, room: owned } = await roomWithOwner('Owned');
    const { owner: friend, room: shared } = await roomWithOwner('Shared');
    const solo = (await api('POST', '/api/rooms', { token: leaver.token, body: { name: 'Solo' } })).body.room;
    await api('POST', `/api/invites/${(await invite(friend.token, shared.id)).code}/accept`, { token: leaver.token });
    await api('POST', `/api/invites/${(await invite(leaver.token, owned.id)).code}/accept`, { token: friend.token });
    const phone = await api('POST', '/api/auth/login', { body: { email: leaver.email, password: leaver.password } });
    const remove = (password: string) => api('DELETE', '/api/auth/me', { token: leaver.token, body: { password } });

    const wrong = await remove('not my password');
    expect(wrong.status).toBe(422);
    expect(wrong.body.error).toMatchObject({ code: 'invalid_field', field: 'password' });
    expect((await api('DELETE', '/api/auth/me', { token: leaver.token, rawBody: '{"password":' })).status).toBe(400);

    const blocked = await remove(leaver.password);
    expect(blocked.status).toBe(409);
    expect(blocked.body.error).toEqual({
      code: 'conflict',
      message: 'you are the only owner of Owned: make someone else an owner there first, or remove its other members',
    });
    expect((await api('GET', '/api/auth/me', { token: leaver.token })).status).toBe(200);

    const promote = await api('PATCH', `/api/rooms/${owned.id}/members/${friend.userId}`, {
      token: leaver.token,
      body: { role: 'owner' },
    });
    expect(promote.status).toBe(204);
    const eventsBefore = server.memoryBus.published.length;
    const done = await remove(leaver.password);
    expect(done.status).toBe(204);
    expect(done.headers.get('set-cookie')).toMatch(/confab_session=;.*Max-Age=0/i);

    for (const token of [leaver.token, phone.body.token]) {
      expect((await api('GET', '/api/auth/me', { token })).status).toBe(401);
    }
    const login = await api('POST', '/api/auth/login', { body: { email: leaver.email, password: leaver.password } });
    expect(login.status).toBe(401);
    // The rooms shared with others stay, without the leaver; the one they were alone in is gone.
    const members = await api('GET', `/api/rooms/${owned.id}`, { token: friend.token });
    expect(members.body.members.map((m: { userId: string }) => m.userId)).toEqual([friend.userId]);
    expect((await api('GET', `/api/rooms/${shared.id}`, { token: friend.token })).body.members).toHaveLength(1);

    const published = server.memoryBus.published.slice(eventsBefore);
    expect(published.filter((e) => e.subject === subjects.sessionRevoked)).toHaveLength(2);
    expect(
      published
        .filter((e) => e.subject === subjects.membershipChanged)
        .map((e) => (e.event as { roomId?: string }).roomId)
        .sort(),
    ).toEqual([owned.id, shared.id, solo.id].sort());
    expect(
      published
        .filter((e) => e.subject === subjects.membershipChanged)
        .every((e) => (e.event as { role?: unknown }).role === null),
    ).toBe(true);
    // The room they were alone in is announced deleted, so its document and notifications go as well.
    expect(
      published.filter((e) => e.subject === subjects.roomDeleted).map((e) => (e.event as { roomId?: string }).roomId),
    ).toEqual([solo.id]);
    expect(published.at(-1)).toMatchObject({ subject: subjects.userDeleted, event: { userId: leaver.userId } });
  });
});

describe('deleting a room', () => {
  it('is for owners only; it removes every member, its invites with it, and announces each removal and the deletion', async () => {
    const { owner, room } = await roomWithOwner('Doomed');
    const member = await registerUser(api, 'doomed-member');
    await api('POST', `/api/invites/${(await invite(owner.token, room.id)).code}/accept`, { token: member.token });
    const spare = await invite(owner.token, room.id);
    const outsider = await registerUser(api, 'doomed-outsider');

    expect((await api('DELETE', `/api/rooms/${room.id}`, { token: member.token })).status).toBe(403);
    expect((await api('DELETE', `/api/rooms/${room.id}`, { token: outsider.token })).status).toBe(404);
    expect((await api('DELETE', '/api/rooms/not-a-room', { token: owner.token })).status).toBe(404);

    const before = server.memoryBus.published.length;
    expect((await api('DELETE', `/api/rooms/${room.id}`, { token: owner.token })).status).toBe(204);
    for (const who of [owner, member]) {
      expect((await api('GET', `/api/rooms/${room.id}`, { token: who.token })).status).toBe(404);
      expect((await api('GET', '/api/rooms', { token: who.token })).body.rooms).toEqual([]);
    }
    // Its invites went with it.
    expect((await api('POST', `/api/invites/${spare.code}/accept`, { token: outsider.token })).status).toBe(404);
    const published = server.memoryBus.published.slice(before);
    expect(
      published
        .filter((e) => e.subject === subjects.membershipChanged)
        .map((e) => (e.event as { userId?: string }).userId)
        .sort(),
    ).toEqual([owner.userId, member.userId].sort());
    expect(published[0]).toMatchObject({ subject: subjects.roomDeleted, event: { roomId: room.id } });
    expect((await api('DELETE', `/api/rooms/${room.id}`, { token: owner.token })).status).toBe(404);
  });
});
