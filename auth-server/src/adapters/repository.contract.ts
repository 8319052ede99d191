import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredSession } from '../domain/session';
import type { AuthRepository, RoomRow, UserWithPassword } from '../ports';

/**
 * The one suite every AuthRepository passes (SQLite and PostgreSQL), in the
 * manner of automerge-repo's runStorageAdapterTests: `setup` hands a fresh,
 * migrated repository and a teardown.
 */
export function runRepositoryContract(
  name: string,
  setup: () => Promise<{ repo: AuthRepository; teardown: () => Promise<void> }>,
): void {
  describe(`AuthRepository contract: ${name}`, () => {
    let repo: AuthRepository;
    let teardown: () => Promise<void>;
    let n = 0;

    beforeAll(async () => {
      ({ repo, teardown } = await setup());
    });
    afterAll(() => teardown());

    async function user(overrides: Partial<UserWithPassword> = {}): Promise<UserWithPassword> {
      n++;
      const u = {
        id: `user-${n}-${Math.random().toString(36).slice(2, 8)}`,
        email: `u${n}-${Math.random().toString(36).slice(2, 8)}@example.com`,
        displayName: `User ${n}`,
        passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$fake',
        createdAt: 1_700_000_000_000 + n,
        ...overrides,
      };
      expect(await repo.createUser(u)).toBe('created');
      return u;
    }

    async function room(ownerId: string): Promise<RoomRow> {
      n++;
      const r = {
        id: `room-${n}-${Math.random().toString(36).slice(2, 8)}`,
        name: `Room ${n}`,
        topic: '',
        createdAt: 1_700_000_000_000 + n,
      };
      await repo.createRoom(r, ownerId);
      return r;
    }

    function session(userId: string, overrides: Partial<StoredSession> = {}): StoredSession {
      n++;
      return {
        id: `s${n}${Math.random().toString(36).slice(2, 8)}`,
        userId,
        secretHash: 'ab'.repeat(32),
        createdAt: 1000,
        expiresAt: 10_000_000_000_000,
        lastSeenAt: 1000,
        userAgent: 'test',
        ...overrides,
      };
    }

    /** `userId` joins `roomId` through a single-use invite of its own (the one way in besides creating a room). */
    async function join(roomId: string, userId: string, role: 'member' | 'reader' = 'member'): Promise<void> {
      const codeHash = `join-${roomId}-${userId}`;
      await repo.createInvite({
        codeHash,
        roomId,
        role,
        maxUses: 1,
        uses: 0,
        expiresAt: null,
        createdBy: userId,
        createdAt: 1,
      });
      expect(await repo.redeemInvite(codeHash, userId, 2)).toMatchObject({ kind: 'joined' });
    }

    it('stores a user and finds it by id and by email, keeping epoch ms as numbers', async () => {
      const u = await user();
      expect(await repo.userById(u.id)).toEqual({
        id: u.id,
        email: u.email,
        displayName: u.displayName,
        createdAt: u.createdAt,
      });
      expect(await repo.userByEmail(u.email)).toEqual(u);
      expect(await repo.userById('nobody')).toBeNull();
    });

    it('refuses a second user with the same email', async () => {
      const u = await user();
      expect(await repo.createUser({ ...u, id: `${u.id}-2` })).toBe('email_taken');
    });

    it('changes a display name', async () => {
      const u = await user();
      expect((await repo.setDisplayName(u.id, 'Renamed'))?.displayName).toBe('Renamed');
    });

    it('deletes an account: leaves shared rooms, deletes rooms it was alone in, refuses while it is a sole owner', async () => {
      const [leaver, friend] = [await user(), await user()];
      const solo = await room(leaver.id); // alone: goes with the account
      const shared = await room(friend.id); // a member of a friend's room: leaves it
      await join(shared.id, leaver.id);
      const owned = await room(leaver.id); // owner of a room with others: blocks the deletion
      await join(owned.id, friend.id);
      await repo.createSession(session(leaver.id));
      await repo.createPasswordReset({
        tokenHash: `reset-${leaver.id}`,
        userId: leaver.id,
        createdAt: 1,
        expiresAt: 9e12,
      });

      expect(await repo.deleteUser(leaver.id)).toEqual({ kind: 'sole_owner', rooms: [owned] });
      expect(await repo.userById(leaver.id)).not.toBeNull();

      expect(await repo.changeRole(owned.id, friend.id, 'owner')).toBe('ok');
      const sessionIds = (await repo.sessionsOf(leaver.id, 0)).map((x) => x.id);
      const deleted = await repo.deleteUser(leaver.id);
      expect(deleted).toEqual({
        kind: 'deleted',
        leftRooms: [shared.id, owned.id],
        deletedRooms: [solo.id],
        sessionIds,
      });
      expect(await repo.userById(leaver.id)).toBeNull();
      expect(await repo.userByEmail(leaver.email)).toBeNull();
      expect(await repo.roomById(solo.id)).toBeNull();
      expect((await repo.members(shared.id)).map((m) => m.userId)).toEqual([friend.id]);
      expect((await repo.members(owned.id)).map((m) => m.userId)).toEqual([friend.id]);
      expect(await repo.sessionsOf(leaver.id, 0)).toEqual([]);
      expect(await repo.takePasswordReset(`reset-${leaver.id}`, 0)).toBeNull();
      expect(await repo.deleteUser(leaver.id)).toEqual({ kind: 'not_found' });
      // The address is free for a new account.
      expect(await repo.createUser({ ...leaver, id: `${leaver.id}-again` })).toBe('created');
    });

    it('deletes a room with its memberships and invites, naming who were members, and no other room', async () => {
      const [owner, other] = [await user(), await user()];
      const doomed = await room(owner.id);
      const kept = await room(owner.id);
      await join(doomed.id, other.id);
      await repo.createInvite({
        codeHash: `doomed-${doomed.id}`,
        roomId: doomed.id,
        role: 'member',
        maxUses: null,
        uses: 0,
        expiresAt: null,
        createdBy: owner.id,
        createdAt: 1,
      });
      expect((await repo.deleteRoom(doomed.id)).sort()).toEqual([owner.id, other.id].sort());
      expect(await repo.roomById(doomed.id)).toBeNull();
      expect(await repo.members(doomed.id)).toEqual([]);
      expect(await repo.inviteByCodeHash(`doomed-${doomed.id}`)).toBeNull();
      expect((await repo.roomsOf(owner.id)).map((r) => r.id)).toEqual([kept.id]);
      expect(await repo.deleteRoom(doomed.id)).toEqual([]);
    });

    it('reads and replaces a password hash, and says when there is no such user', async () => {
      const u = await user();
      const before = await repo.passwordHashOf(u.id);
      expect(before).toEqual(expect.any(String));
      expect(await repo.setPasswordHash(u.id, '$argon2id$v=19$m=19456,t=2,p=1$new')).toBe(true);
      expect(await repo.passwordHashOf(u.id)).toBe('$argon2id$v=19$m=19456,t=2,p=1$new');
      expect((await repo.userByEmail(u.email))?.passwordHash).toBe('$argon2id$v=19$m=19456,t=2,p=1$new');
      expect(await repo.passwordHashOf('no-such-user')).toBeNull();
      expect(await repo.setPasswordHash('no-such-user', 'x')).toBe(false);
    });

    it('uses a password reset link once, before it expires, and ends every other link of its user with it', async () => {
      const u = await user();
      const other = await user();
      const link = (tokenHash: string, userId: string, createdAt: number, expiresAt: number) =>
        repo.createPasswordReset({ tokenHash, userId, createdAt, expiresAt });
      await link('h1', u.id, 1_000, 5_000);
      await link('h2', u.id, 2_000, 6_000);
      await link('h3', other.id, 2_000, 6_000);
      await link('old', u.id, 100, 900);
      // Expired: refused, and gone.
      expect(await repo.takePasswordReset('old', 1_000)).toBeNull();
      expect(await repo.takePasswordReset('h1', 4_999)).toBe(u.id);
      // Used: h1 and the user's other link h2 are gone; the other user's is not.
      expect(await repo.takePasswordReset('h1', 4_999)).toBeNull();
      expect(await repo.takePasswordReset('h2', 4_999)).toBeNull();
      expect(await repo.takePasswordReset('unknown', 0)).toBeNull();
      await link('h4', other.id, 2_000, 9_000);
      expect(await repo.deleteExpiredPasswordResets(6_000)).toBe(1);
      expect(await repo.takePasswordReset('h3', 1_000)).toBeNull();
      expect(await repo.takePasswordReset('h4', 6_000)).toBe(other.id);
    });

    it("deletes every session of a user but the one kept, and nobody else's", async () => {
      const u = await user();
      const other = await user();
      const kept = session(u.id);
      const gone = [session(u.id), session(u.id)];
      const theirs = session(other.id);
      for (const s of [kept, ...gone, theirs]) await repo.createSession(s);
      expect((await repo.deleteUserSessions(u.id, kept.id)).sort()).toEqual(gone.map((s) => s.id).sort());
      expect(await repo.sessionById(kept.id)).not.toBeNull();
      expect(await repo.sessionById(theirs.id)).not.toBeNull();
      for (const s of gone) expect(await repo.sessionById(s.id)).toBeNull();
    });

    it('stores, updates, lists and deletes sessions; deleting all of a user returns their ids', async () => {
      const u = await user();
      const a = session(u.id, { createdAt: 1 });
      const b = session(u.id, { createdAt: 2, expiresAt: 5000 });
      await repo.createSession(a);
      await repo.createSession(b);
      expect(await repo.sessionById(a.id)).toEqual(a);
      await repo.updateSession(a.id, { expiresAt: 20_000_000_000_000, lastSeenAt: 2_000 });
      expect(await repo.sessionById(a.id)).toMatchObject({ expiresAt: 20_000_000_000_000, lastSeenAt: 2_000 });
      expect((await repo.sessionsOf(u.id, 4000)).map((s) => s.id)).toEqual([a.id, b.id]);
      expect((await repo.sessionsOf(u.id, 6000)).map((s) => s.id)).toEqual([a.id]);
      expect(await repo.deleteSession(b.id)).toBe(true);
      expect(await repo.deleteSession(b.id)).toBe(false);
      expect(await repo.deleteUserSessions(u.id)).toEqual([a.id]);
      expect(await repo.sessionById(a.id)).toBeNull();
    });

    it('sweeps expired sessions only', async () => {
      const u = await user();
      const old = session(u.id, { expiresAt: 10 });
      const live = session(u.id);
      await repo.createSession(old);
      await repo.createSession(live);
      expect(await repo.deleteExpiredSessions(11)).toBeGreaterThanOrEqual(1);
      expect(await repo.sessionById(old.id)).toBeNull();
      expect(await repo.sessionById(live.id)).not.toBeNull();
    });

    it('creates a room with its owner and lists it with the role', async () => {
      const u = await user();
      const r = await room(u.id);
      expect(await repo.roomById(r.id)).toEqual(r);
      expect(await repo.roomsOf(u.id)).toEqual([{ ...r, role: 'owner' }]);
      expect(await repo.roleOf(r.id, u.id)).toBe('owner');
      expect(await repo.members(r.id)).toEqual([
        { userId: u.id, email: u.email, displayName: u.displayName, role: 'owner' },
      ]);
      expect((await repo.updateRoom(r.id, { topic: 'new topic' }))?.topic).toBe('new topic');
      expect(await repo.updateRoom('missing', { name: 'x' })).toBeNull();
    });

    it('answers the roles of many rooms in one call', async () => {
      const u = await user();
      const r1 = await room(u.id);
      const r2 = await room(u.id);
      const other = await user();
      const r3 = await room(other.id);
      const roles = await repo.rolesIn(u.id, [r1.id, r2.id, r3.id, 'missing']);
      expect(Object.fromEntries(roles)).toEqual({ [r1.id]: 'owner', [r2.id]: 'owner' });
      expect((await repo.rolesIn(u.id, [])).size).toBe(0);
    });

    it('redeems an invite once per person, counts uses exactly and honours expiry', async () => {
      const owner = await user();
      const r = await room(owner.id);
      await repo.createInvite({
        codeHash: `hash-${r.id}`,
        roomId: r.id,
        role: 'reader',
        maxUses: 2,
        uses: 0,
        expiresAt: 5000,
        createdBy: owner.id,
        createdAt: 1000,
      });
      const [a, b, c] = [await user(), await user(), await user()];
      expect(await repo.redeemInvite(`hash-${r.id}`, a.id, 2000)).toEqual({ kind: 'joined', room: r, role: 'reader' });
      expect(await repo.redeemInvite(`hash-${r.id}`, a.id, 2000)).toEqual({
        kind: 'already_member',
        room: r,
        role: 'reader',
      });
      expect(await repo.redeemInvite(`hash-${r.id}`, owner.id, 2000)).toMatchObject({
        kind: 'already_member',
        role: 'owner',
      });
      expect(await repo.redeemInvite(`hash-${r.id}`, b.id, 5000)).toEqual({ kind: 'invite_expired' });
      expect(await repo.redeemInvite(`hash-${r.id}`, b.id, 2000)).toMatchObject({ kind: 'joined' });
      expect(await repo.redeemInvite(`hash-${r.id}`, c.id, 2000)).toEqual({ kind: 'invite_exhausted' });
      expect(await repo.redeemInvite('no-such-hash', c.id, 2000)).toEqual({ kind: 'not_found' });
    });

    it('reads an invite and its room without using it', async () => {
      const owner = await user();
      const r = await room(owner.id);
      const invite = {
        codeHash: `peek-${r.id}`,
        roomId: r.id,
        role: 'reader' as const,
        maxUses: 3,
        uses: 0,
        expiresAt: 9000,
        createdBy: owner.id,
        createdAt: 1000,
      };
      await repo.createInvite(invite);
      expect(await repo.inviteByCodeHash(`peek-${r.id}`)).toEqual({ invite, room: r });
      await repo.redeemInvite(`peek-${r.id}`, (await user()).id, 2000);
      expect((await repo.inviteByCodeHash(`peek-${r.id}`))?.invite.uses).toBe(1);
      expect(await repo.inviteByCodeHash('no-such-hash')).toBeNull();
    });

    it('revokes an invite only through its own room, after which it is not found', async () => {
      const owner = await user();
      const [r, other] = [await room(owner.id), await room(owner.id)];
      await repo.createInvite({
        codeHash: `revoke-${r.id}`,
        roomId: r.id,
        role: 'member',
        maxUses: null,
        uses: 0,
        expiresAt: null,
        createdBy: owner.id,
        createdAt: 1000,
      });
      expect(await repo.deleteInvite(other.id, `revoke-${r.id}`)).toBe(false);
      expect(await repo.deleteInvite(r.id, `revoke-${r.id}`)).toBe(true);
      expect(await repo.deleteInvite(r.id, `revoke-${r.id}`)).toBe(false);
      expect(await repo.redeemInvite(`revoke-${r.id}`, (await user()).id, 2000)).toEqual({ kind: 'not_found' });
    });

    it('gives the last use of an invite to exactly one of several people racing for it', async () => {
      const owner = await user();
      const r = await room(owner.id);
      await repo.createInvite({
        codeHash: `race-${r.id}`,
        roomId: r.id,
        role: 'member',
        maxUses: 1,
        uses: 0,
        expiresAt: null,
        createdBy: owner.id,
        createdAt: 1,
      });
      const racers = await Promise.all([user(), user(), user(), user()]);
      const outcomes = await Promise.all(
        racers.map((u) => repo.redeemInvite(`race-${r.id}`, u.id, 2).catch(() => ({ kind: 'error' as const }))),
      );
      expect(outcomes.filter((o) => o.kind === 'joined')).toHaveLength(1);
      expect((await repo.members(r.id)).length).toBe(2);
    });

    it('changes roles and removes members, but never leaves a room without an owner', async () => {
      const owner = await user();
      const r = await room(owner.id);
      const m = await user();
      await join(r.id, m.id);
      expect(await repo.changeRole(r.id, owner.id, 'member')).toBe('last_owner');
      expect(await repo.removeMember(r.id, owner.id)).toBe('last_owner');
      expect(await repo.changeRole(r.id, 'stranger', 'member')).toBe('not_member');
      expect(await repo.changeRole(r.id, m.id, 'owner')).toBe('ok');
      expect(await repo.changeRole(r.id, owner.id, 'reader')).toBe('ok');
      expect(await repo.roleOf(r.id, owner.id)).toBe('reader');
      expect(await repo.removeMember(r.id, owner.id)).toBe('ok');
      expect(await repo.roleOf(r.id, owner.id)).toBeNull();
      expect(await repo.removeMember(r.id, owner.id)).toBe('not_member');
    });

    it('keeps one owner when two owners demote each other at the same time', async () => {
      const a = await user();
      const r = await room(a.id);
      const b = await user();
      await join(r.id, b.id);
      await repo.changeRole(r.id, b.id, 'owner');
      const results = await Promise.all([
        repo.changeRole(r.id, a.id, 'member').catch(() => 'error'),
        repo.changeRole(r.id, b.id, 'member').catch(() => 'error'),
      ]);
      expect(results.filter((x) => x === 'ok')).toHaveLength(1);
      const owners = (await repo.members(r.id)).filter((m) => m.role === 'owner');
      expect(owners).toHaveLength(1);
    });

    it('stores signing keys in creation order', async () => {
      const before = (await repo.keys()).length;
      await repo.addKey({ kid: `k-${n}-a`, privateJwk: '{"d":"x"}', publicJwk: '{"x":"y"}', createdAt: 1 });
      await repo.addKey({ kid: `k-${n}-b`, privateJwk: '{"d":"x"}', publicJwk: '{"x":"y"}', createdAt: 2 });
      const keys = await repo.keys();
      expect(keys).toHaveLength(before + 2);
      expect(keys.slice(-2).map((k) => k.createdAt)).toEqual([1, 2]);
    });

    it('stores, replaces and deletes throttle buckets with fractional tokens', async () => {
      await repo.saveBucket('acct:x', { tokens: 2.5, updatedAt: 100 });
      expect(await repo.bucket('acct:x')).toEqual({ tokens: 2.5, updatedAt: 100 });
      await repo.saveBucket('acct:x', { tokens: 0, updatedAt: 200 });
      expect(await repo.bucket('acct:x')).toEqual({ tokens: 0, updatedAt: 200 });
      await repo.deleteBucket('acct:x');
      expect(await repo.bucket('acct:x')).toBeNull();
    });

    it('sweeps only the buckets untouched since the cut-off', async () => {
      await repo.saveBucket('ip:old', { tokens: 1, updatedAt: 100 });
      await repo.saveBucket('ip:new', { tokens: 1, updatedAt: 300 });
      expect(await repo.deleteStaleBuckets(200)).toBeGreaterThanOrEqual(1);
      expect(await repo.bucket('ip:old')).toBeNull();
      expect(await repo.bucket('ip:new')).not.toBeNull();
    });
  });
}
