import { HttpError, readJsonBody } from '@confab/platform';
import { isId, type Role, uuidv7 } from '@confab/protocol';
import { sha256 } from '@oslojs/crypto/sha2';
import { encodeBase32LowerCaseNoPadding, encodeHexLowerCase } from '@oslojs/encoding';
import { Hono } from 'hono';
import { z } from 'zod';
import { inviteProblem, mayRemoveMember } from '../domain/rooms';
import type { MembershipChange, RoomRow } from '../ports';
import { type AuthEnv, type RouteDeps, requireSession } from './context';

// No control characters: a room name travels into email subjects, push titles and notification lists.
const roomName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .refine((s) => !/\p{Cc}/u.test(s), 'must not contain control characters');
const roomTopic = z.string().trim().max(500, 'must be at most 500 characters');
const createRoomBody = z.object({ name: roomName, topic: roomTopic.optional() });
const patchRoomBody = z.object({ name: roomName.optional(), topic: roomTopic.optional() });
const createInviteBody = z.object({
  role: z.enum(['member', 'reader']).default('member'),
  maxUses: z.number().int().min(1).max(10_000).optional(),
  // Without expiresInSeconds an invite lasts until used up; with it, at most a year.
  expiresInSeconds: z
    .number()
    .int()
    .min(60)
    .max(365 * 24 * 3600)
    .optional(),
});
const roleBody = z.object({ role: z.enum(['owner', 'member', 'reader']) });

export function publicRoom(room: RoomRow, role: Role) {
  return { id: room.id, name: room.name, topic: room.topic, createdAt: room.createdAt, role };
}

/** What an invite code looks like (base32); anything else is not looked up. */
const INVITE_CODE = /^[a-z2-7]{16,64}$/;

/** An invite code carries 160 random bits; only its SHA-256 is stored. */
export function newInviteCode(): { code: string; codeHash: string } {
  const code = encodeBase32LowerCaseNoPadding(crypto.getRandomValues(new Uint8Array(20)));
  return { code, codeHash: hashInviteCode(code) };
}

export function hashInviteCode(code: string): string {
  return encodeHexLowerCase(sha256(new TextEncoder().encode(code)));
}

function failIfNotOk(outcome: MembershipChange): void {
  if (outcome === 'not_member') throw new HttpError('not_found', 'that user is not a member of this room');
  if (outcome === 'last_owner') {
    throw new HttpError('conflict', 'a room needs an owner: make someone else owner first');
  }
}

export function roomRoutes(deps: RouteDeps): Hono<AuthEnv> {
  const { config, repo, core, clock } = deps;
  const app = new Hono<AuthEnv>();
  // Per route, not app.use('*'): an unknown path must answer 404, not 401.
  const session = requireSession(core, config.secureCookies);

  /** The room and the caller's role in it; 404 when either does not exist (non-members cannot probe rooms). */
  async function membership(roomId: string, userId: string): Promise<{ room: RoomRow; role: Role }> {
    if (!isId(roomId)) throw new HttpError('not_found', 'no such room');
    const [room, role] = await Promise.all([repo.roomById(roomId), repo.roleOf(roomId, userId)]);
    if (!room || !role) throw new HttpError('not_found', 'no such room');
    return { room, role };
  }

  async function asOwner(roomId: string, userId: string) {
    const found = await membership(roomId, userId);
    if (found.role !== 'owner') throw new HttpError('forbidden', 'only an owner may do this');
    return found;
  }

  app.post('/', session, async (c) => {
    const body = await readJsonBody(c.req.raw, createRoomBody);
    const userId = c.get('caller').userId;
    const room: RoomRow = { id: uuidv7(clock()), name: body.name, topic: body.topic ?? '', createdAt: clock() };
    await repo.createRoom(room, userId);
    await core.membershipChanged(room.id, userId, 'owner');
    return c.json({ room: publicRoom(room, 'owner') }, 201);
  });

  app.get('/', session, async (c) => {
    const rooms = await repo.roomsOf(c.get('caller').userId);
    return c.json({ rooms: rooms.map((r) => publicRoom(r, r.role)) });
  });

  app.get('/:id', session, async (c) => {
    const { room, role } = await membership(c.req.param('id'), c.get('caller').userId);
    const members = await repo.members(room.id);
    return c.json({
      room: publicRoom(room, role),
      members: members.map((m) => ({ userId: m.userId, displayName: m.displayName, role: m.role })),
    });
  });

  app.patch('/:id', session, async (c) => {
    const body = await readJsonBody(c.req.raw, patchRoomBody);
    const { room } = await asOwner(c.req.param('id'), c.get('caller').userId);
    const updated = await repo.updateRoom(room.id, body);
    if (!updated) throw new HttpError('not_found', 'no such room');
    return c.json({ room: publicRoom(updated, 'owner') });
  });

  /**
   * Extension: an owner deletes the room, for everyone: its members are removed (their connections
   * close as after a removal), then `confab.auth.room.deleted` has the sync server delete the room's
   * document and the notifier its notifications. 204.
   */
  app.delete('/:id', session, async (c) => {
    const { room } = await asOwner(c.req.param('id'), c.get('caller').userId);
    const members = await repo.deleteRoom(room.id);
    await core.roomDeleted(room.id, members);
    deps.logger.info({ roomId: room.id, members: members.length }, 'room deleted');
    return c.body(null, 204);
  });

  app.post('/:id/invites', session, async (c) => {
    const body = await readJsonBody(c.req.raw, createInviteBody);
    const userId = c.get('caller').userId;
    const { room } = await asOwner(c.req.param('id'), userId);
    const { code, codeHash } = newInviteCode();
    const now = clock();
    const expiresAt = body.expiresInSeconds === undefined ? null : now + body.expiresInSeconds * 1000;
    await repo.createInvite({
      codeHash,
      roomId: room.id,
      role: body.role,
      maxUses: body.maxUses ?? null,
      uses: 0,
      expiresAt,
      createdBy: userId,
      createdAt: now,
    });
    return c.json(
      { code, url: `${config.publicUrl}/invite/${code}`, role: body.role, maxUses: body.maxUses ?? null, expiresAt },
      201,
    );
  });

  // Extension: revoking an invite (a leaked link, or one a removed member could use to come back).
  app.delete('/:id/invites/:code', session, async (c) => {
    const { room } = await asOwner(c.req.param('id'), c.get('caller').userId);
    const code = c.req.param('code');
    const revoked = INVITE_CODE.test(code) && (await repo.deleteInvite(room.id, hashInviteCode(code)));
    if (!revoked) throw new HttpError('not_found', 'no such invite');
    return c.body(null, 204);
  });

  app.patch('/:id/members/:userId', session, async (c) => {
    const body = await readJsonBody(c.req.raw, roleBody);
    const { room } = await asOwner(c.req.param('id'), c.get('caller').userId);
    const target = c.req.param('userId');
    failIfNotOk(await repo.changeRole(room.id, target, body.role));
    await core.membershipChanged(room.id, target, body.role);
    return c.body(null, 204);
  });

  app.delete('/:id/members/:userId', session, async (c) => {
    const caller = c.get('caller');
    const { room, role } = await membership(c.req.param('id'), caller.userId);
    const target = c.req.param('userId');
    if (!mayRemoveMember({ userId: caller.userId, role }, target)) {
      throw new HttpError('forbidden', 'only an owner may remove someone else');
    }
    failIfNotOk(await repo.removeMember(room.id, target));
    await core.membershipChanged(room.id, target, null);
    return c.body(null, 204);
  });

  return app;
}

export function inviteRoutes(deps: RouteDeps): Hono<AuthEnv> {
  const { config, repo, core, clock } = deps;
  const app = new Hono<AuthEnv>();
  // Per route, not app.use('*'): an unknown path must answer 404, not 401.
  const session = requireSession(core, config.secureCookies);

  // Extension: what an invite grants, without using it, so the invite screen can say "Join <room> as <role>".
  // Signed-in callers only (like accept), so codes cannot be probed anonymously; a code is 160 random bits,
  // so guessing is hopeless anyway, and the same answers (404/410/409) as accept reveal nothing more.
  app.get('/:code', session, async (c) => {
    const code = c.req.param('code');
    const found = INVITE_CODE.test(code) ? await repo.inviteByCodeHash(hashInviteCode(code)) : null;
    if (!found) throw new HttpError('not_found', 'no such invite');
    const { invite, room } = found;
    const problem = inviteProblem(invite, clock());
    if (problem === 'invite_expired') throw new HttpError('invite_expired', 'this invite has expired');
    if (problem === 'invite_exhausted') throw new HttpError('invite_exhausted', 'this invite has been used up');
    return c.json({
      room: { id: room.id, name: room.name, topic: room.topic },
      role: invite.role,
      expiresAt: invite.expiresAt,
      usesLeft: invite.maxUses === null ? null : invite.maxUses - invite.uses,
    });
  });

  app.post('/:code/accept', session, async (c) => {
    const code = c.req.param('code');
    if (!INVITE_CODE.test(code)) throw new HttpError('not_found', 'no such invite');
    const userId = c.get('caller').userId;
    const outcome = await repo.redeemInvite(hashInviteCode(code), userId, clock());
    switch (outcome.kind) {
      case 'not_found':
        throw new HttpError('not_found', 'no such invite');
      case 'invite_expired':
        throw new HttpError('invite_expired', 'this invite has expired');
      case 'invite_exhausted':
        throw new HttpError('invite_exhausted', 'this invite has been used up');
      case 'joined':
        await core.membershipChanged(outcome.room.id, userId, outcome.role);
        return c.json({ room: publicRoom(outcome.room, outcome.role) });
      case 'already_member':
        return c.json({ room: publicRoom(outcome.room, outcome.role) });
    }
  });

  return app;
}
