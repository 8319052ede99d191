import type { Database } from '@confab/platform';
import type { Role } from '@confab/protocol';
import type { Kysely, Transaction } from 'kysely';
import { inviteProblem, leavesNoOwner } from '../domain/rooms';
import type { StoredSession } from '../domain/session';
import type {
  AuthRepository,
  InviteRow,
  MembershipChange,
  RedeemOutcome,
  RoomRow,
  UserDeletion,
  UserRow,
  UserWithPassword,
} from '../ports';
import type { AuthTables } from './schema';

type Db = Kysely<AuthTables>;
type Tx = Transaction<AuthTables>;

const ms = (value: number | string | bigint): number => Number(value);
const msOrNull = (value: number | string | bigint | null): number | null => (value === null ? null : Number(value));

function toUser(row: {
  id: string;
  email: string;
  display_name: string;
  created_at: number | string | bigint;
}): UserRow {
  return { id: row.id, email: row.email, displayName: row.display_name, createdAt: ms(row.created_at) };
}

function toRoom(row: { id: string; name: string; topic: string; created_at: number | string | bigint }): RoomRow {
  return { id: row.id, name: row.name, topic: row.topic, createdAt: ms(row.created_at) };
}

function toSession(row: AuthTables['auth_sessions']): StoredSession {
  return {
    id: row.id,
    userId: row.user_id,
    secretHash: row.secret_hash,
    createdAt: ms(row.created_at),
    expiresAt: ms(row.expires_at),
    lastSeenAt: ms(row.last_seen_at),
    userAgent: row.user_agent,
  };
}

/** The AuthRepository over Kysely, for SQLite and PostgreSQL alike. */
export function createKyselyRepository(database: Database<AuthTables>): AuthRepository {
  const db: Db = database.db;
  // SQLite runs one writer at a time, so only PostgreSQL needs row locks to keep the last-owner rule under concurrency.
  const lockRows = database.kind === 'postgres';

  async function ownerCount(trx: Tx, roomId: string): Promise<number> {
    let query = trx
      .selectFrom('auth_members')
      .select('user_id')
      .where('room_id', '=', roomId)
      .where('role', '=', 'owner');
    if (lockRows) query = query.forUpdate();
    return (await query.execute()).length;
  }

  async function changeMembership(roomId: string, userId: string, next: Role | null): Promise<MembershipChange> {
    return db.transaction().execute(async (trx) => {
      const owners = await ownerCount(trx, roomId);
      const current = await trx
        .selectFrom('auth_members')
        .select('role')
        .where('room_id', '=', roomId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      if (!current) return 'not_member';
      if (leavesNoOwner(current.role as Role, next, owners)) return 'last_owner';
      if (next === null) {
        await trx.deleteFrom('auth_members').where('room_id', '=', roomId).where('user_id', '=', userId).execute();
      } else {
        await trx
          .updateTable('auth_members')
          .set({ role: next })
          .where('room_id', '=', roomId)
          .where('user_id', '=', userId)
          .execute();
      }
      return 'ok';
    });
  }

  return {
    async createUser(user: UserWithPassword) {
      const result = await db
        .insertInto('auth_users')
        .values({
          id: user.id,
          email: user.email,
          display_name: user.displayName,
          password_hash: user.passwordHash,
          created_at: user.createdAt,
        })
        .onConflict((oc) => oc.column('email').doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) === 1 ? 'created' : 'email_taken';
    },

    async userByEmail(email) {
      const row = await db.selectFrom('auth_users').selectAll().where('email', '=', email).executeTakeFirst();
      return row ? { ...toUser(row), passwordHash: row.password_hash } : null;
    },

    async userById(userId) {
      const row = await db
        .selectFrom('auth_users')
        .select(['id', 'email', 'display_name', 'created_at'])
        .where('id', '=', userId)
        .executeTakeFirst();
      return row ? toUser(row) : null;
    },

    async setDisplayName(userId, displayName) {
      await db.updateTable('auth_users').set({ display_name: displayName }).where('id', '=', userId).execute();
      return this.userById(userId);
    },

    async passwordHashOf(userId) {
      const row = await db.selectFrom('auth_users').select('password_hash').where('id', '=', userId).executeTakeFirst();
      return row?.password_hash ?? null;
    },

    async setPasswordHash(userId, passwordHash) {
      const result = await db
        .updateTable('auth_users')
        .set({ password_hash: passwordHash })
        .where('id', '=', userId)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    async deleteUser(userId): Promise<UserDeletion> {
      return db.transaction().execute(async (trx) => {
        const user = await trx.selectFrom('auth_users').select('id').where('id', '=', userId).executeTakeFirst();
        if (!user) return { kind: 'not_found' };
        let mine = trx
          .selectFrom('auth_members as m')
          .innerJoin('auth_rooms as r', 'r.id', 'm.room_id')
          .select(['r.id', 'r.name', 'r.topic', 'r.created_at', 'm.role'])
          .where('m.user_id', '=', userId)
          .orderBy('r.created_at', 'asc');
        if (lockRows) mine = mine.forUpdate();
        const rooms = await mine.execute();
        const roomIds = rooms.map((r) => r.id);
        const others =
          roomIds.length === 0
            ? []
            : await trx
                .selectFrom('auth_members')
                .select(['room_id', 'role'])
                .where('room_id', 'in', roomIds)
                .where('user_id', '!=', userId)
                .execute();
        const soleOwnerOf = rooms.filter(
          (r) =>
            r.role === 'owner' &&
            others.some((o) => o.room_id === r.id) &&
            !others.some((o) => o.room_id === r.id && o.role === 'owner'),
        );
        if (soleOwnerOf.length > 0) {
          return {
            kind: 'sole_owner',
            rooms: soleOwnerOf.map((r) => ({ id: r.id, name: r.name, topic: r.topic, createdAt: ms(r.created_at) })),
          };
        }
        const alone = rooms.filter((r) => !others.some((o) => o.room_id === r.id)).map((r) => r.id);
        const left = roomIds.filter((id) => !alone.includes(id));
        if (alone.length > 0) await trx.deleteFrom('auth_rooms').where('id', 'in', alone).execute();
        const sessions = await trx.deleteFrom('auth_sessions').where('user_id', '=', userId).returning('id').execute();
        // Memberships, reset links: their foreign keys cascade.
        await trx.deleteFrom('auth_users').where('id', '=', userId).execute();
        return { kind: 'deleted', leftRooms: left, deletedRooms: alone, sessionIds: sessions.map((s) => s.id) };
      });
    },

    async createPasswordReset(reset) {
      await db
        .insertInto('auth_password_resets')
        .values({
          token_hash: reset.tokenHash,
          user_id: reset.userId,
          created_at: reset.createdAt,
          expires_at: reset.expiresAt,
        })
        .execute();
    },

    async takePasswordReset(tokenHash, nowMs) {
      return db.transaction().execute(async (trx) => {
        const row = await trx
          .deleteFrom('auth_password_resets')
          .where('token_hash', '=', tokenHash)
          .returning(['user_id', 'expires_at'])
          .executeTakeFirst();
        if (!row || Number(row.expires_at) <= nowMs) return null;
        await trx.deleteFrom('auth_password_resets').where('user_id', '=', row.user_id).execute();
        return row.user_id;
      });
    },

    async deleteExpiredPasswordResets(nowMs) {
      const result = await db.deleteFrom('auth_password_resets').where('expires_at', '<=', nowMs).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async createSession(s) {
      await db
        .insertInto('auth_sessions')
        .values({
          id: s.id,
          user_id: s.userId,
          secret_hash: s.secretHash,
          created_at: s.createdAt,
          expires_at: s.expiresAt,
          last_seen_at: s.lastSeenAt,
          user_agent: s.userAgent,
        })
        .execute();
    },

    async sessionById(sessionId) {
      const row = await db.selectFrom('auth_sessions').selectAll().where('id', '=', sessionId).executeTakeFirst();
      return row ? toSession(row) : null;
    },

    async updateSession(sessionId, update) {
      const set: { expires_at?: number; last_seen_at?: number } = {};
      if (update.expiresAt !== undefined) set.expires_at = update.expiresAt;
      if (update.lastSeenAt !== undefined) set.last_seen_at = update.lastSeenAt;
      if (Object.keys(set).length === 0) return;
      await db.updateTable('auth_sessions').set(set).where('id', '=', sessionId).execute();
    },

    async deleteSession(sessionId) {
      const result = await db.deleteFrom('auth_sessions').where('id', '=', sessionId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async deleteUserSessions(userId, exceptSessionId) {
      let query = db.deleteFrom('auth_sessions').where('user_id', '=', userId);
      if (exceptSessionId !== undefined) query = query.where('id', '!=', exceptSessionId);
      const rows = await query.returning('id').execute();
      return rows.map((r) => r.id);
    },

    async sessionsOf(userId, nowMs) {
      const rows = await db
        .selectFrom('auth_sessions')
        .selectAll()
        .where('user_id', '=', userId)
        .where('expires_at', '>', nowMs)
        .orderBy('created_at', 'asc')
        .execute();
      return rows.map(toSession);
    },

    async deleteExpiredSessions(nowMs) {
      const result = await db.deleteFrom('auth_sessions').where('expires_at', '<=', nowMs).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async createRoom(room, ownerId) {
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('auth_rooms')
          .values({ id: room.id, name: room.name, topic: room.topic, created_at: room.createdAt })
          .execute();
        await trx
          .insertInto('auth_members')
          .values({ room_id: room.id, user_id: ownerId, role: 'owner', joined_at: room.createdAt })
          .execute();
      });
    },

    async deleteRoom(roomId) {
      return db.transaction().execute(async (trx) => {
        const members = await trx.selectFrom('auth_members').select('user_id').where('room_id', '=', roomId).execute();
        // Memberships and invites: their foreign keys cascade.
        await trx.deleteFrom('auth_rooms').where('id', '=', roomId).execute();
        return members.map((m) => m.user_id);
      });
    },

    async roomById(roomId) {
      const row = await db.selectFrom('auth_rooms').selectAll().where('id', '=', roomId).executeTakeFirst();
      return row ? toRoom(row) : null;
    },

    async updateRoom(roomId, patch) {
      const set: { name?: string; topic?: string } = {};
      if (patch.name !== undefined) set.name = patch.name;
      if (patch.topic !== undefined) set.topic = patch.topic;
      if (Object.keys(set).length > 0) await db.updateTable('auth_rooms').set(set).where('id', '=', roomId).execute();
      return this.roomById(roomId);
    },

    async roomsOf(userId) {
      const rows = await db
        .selectFrom('auth_members as m')
        .innerJoin('auth_rooms as r', 'r.id', 'm.room_id')
        .select(['r.id', 'r.name', 'r.topic', 'r.created_at', 'm.role'])
        .where('m.user_id', '=', userId)
        .orderBy('r.created_at', 'asc')
        .orderBy('r.id', 'asc')
        .execute();
      return rows.map((r) => ({ ...toRoom(r), role: r.role as Role }));
    },

    async members(roomId) {
      const rows = await db
        .selectFrom('auth_members as m')
        .innerJoin('auth_users as u', 'u.id', 'm.user_id')
        .select(['u.id', 'u.email', 'u.display_name', 'm.role'])
        .where('m.room_id', '=', roomId)
        .orderBy('m.joined_at', 'asc')
        .orderBy('u.id', 'asc')
        .execute();
      return rows.map((r) => ({ userId: r.id, email: r.email, displayName: r.display_name, role: r.role as Role }));
    },

    async roleOf(roomId, userId) {
      const row = await db
        .selectFrom('auth_members')
        .select('role')
        .where('room_id', '=', roomId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return row ? (row.role as Role) : null;
    },

    async rolesIn(userId, roomIds) {
      const roles = new Map<string, Role>();
      if (roomIds.length === 0) return roles;
      const rows = await db
        .selectFrom('auth_members')
        .select(['room_id', 'role'])
        .where('user_id', '=', userId)
        .where('room_id', 'in', roomIds)
        .execute();
      for (const r of rows) roles.set(r.room_id, r.role as Role);
      return roles;
    },

    changeRole: (roomId, userId, role) => changeMembership(roomId, userId, role),
    removeMember: (roomId, userId) => changeMembership(roomId, userId, null),

    async createInvite(invite) {
      await db
        .insertInto('auth_invites')
        .values({
          code_hash: invite.codeHash,
          room_id: invite.roomId,
          role: invite.role,
          max_uses: invite.maxUses,
          uses: invite.uses,
          expires_at: invite.expiresAt,
          created_by: invite.createdBy,
          created_at: invite.createdAt,
        })
        .execute();
    },

    async inviteByCodeHash(codeHash) {
      const row = await db.selectFrom('auth_invites').selectAll().where('code_hash', '=', codeHash).executeTakeFirst();
      if (!row) return null;
      const roomRow = await db.selectFrom('auth_rooms').selectAll().where('id', '=', row.room_id).executeTakeFirst();
      if (!roomRow) return null;
      const invite: InviteRow = {
        codeHash: row.code_hash,
        roomId: row.room_id,
        role: row.role as InviteRow['role'],
        maxUses: row.max_uses,
        uses: row.uses,
        expiresAt: msOrNull(row.expires_at),
        createdBy: row.created_by,
        createdAt: ms(row.created_at),
      };
      return { invite, room: toRoom(roomRow) };
    },

    async deleteInvite(roomId, codeHash) {
      const result = await db
        .deleteFrom('auth_invites')
        .where('code_hash', '=', codeHash)
        .where('room_id', '=', roomId)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async redeemInvite(codeHash, userId, nowMs): Promise<RedeemOutcome> {
      return db.transaction().execute(async (trx): Promise<RedeemOutcome> => {
        const invite = await trx
          .selectFrom('auth_invites')
          .selectAll()
          .where('code_hash', '=', codeHash)
          .executeTakeFirst();
        if (!invite) return { kind: 'not_found' };
        const roomRow = await trx
          .selectFrom('auth_rooms')
          .selectAll()
          .where('id', '=', invite.room_id)
          .executeTakeFirst();
        if (!roomRow) return { kind: 'not_found' };
        const room = toRoom(roomRow);
        const existing = await trx
          .selectFrom('auth_members')
          .select('role')
          .where('room_id', '=', invite.room_id)
          .where('user_id', '=', userId)
          .executeTakeFirst();
        // Accepting again is harmless: an existing member keeps their role and uses no invite slot.
        if (existing) return { kind: 'already_member', room, role: existing.role as Role };
        const problem = inviteProblem(
          { maxUses: invite.max_uses, uses: invite.uses, expiresAt: msOrNull(invite.expires_at) },
          nowMs,
        );
        if (problem) return { kind: problem };
        // Conditional increment: two people racing for the last use cannot both get it.
        const counted = await trx
          .updateTable('auth_invites')
          .set((eb) => ({ uses: eb('uses', '+', 1) }))
          .where('code_hash', '=', codeHash)
          .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
          .executeTakeFirst();
        if (Number(counted.numUpdatedRows) === 0) return { kind: 'invite_exhausted' };
        await trx
          .insertInto('auth_members')
          .values({ room_id: invite.room_id, user_id: userId, role: invite.role, joined_at: nowMs })
          .execute();
        return { kind: 'joined', room, role: invite.role as Role };
      });
    },

    async keys() {
      const rows = await db
        .selectFrom('auth_keys')
        .selectAll()
        .where('retired_at', 'is', null)
        .orderBy('created_at', 'asc')
        .orderBy('kid', 'asc')
        .execute();
      return rows.map((r) => ({
        kid: r.kid,
        privateJwk: r.private_jwk,
        publicJwk: r.public_jwk,
        createdAt: ms(r.created_at),
      }));
    },

    async addKey(key) {
      await db
        .insertInto('auth_keys')
        .values({
          kid: key.kid,
          private_jwk: key.privateJwk,
          public_jwk: key.publicJwk,
          created_at: key.createdAt,
          retired_at: null,
        })
        .execute();
    },

    async bucket(key) {
      const row = await db.selectFrom('auth_throttle').selectAll().where('key', '=', key).executeTakeFirst();
      return row ? { tokens: Number(row.tokens), updatedAt: ms(row.updated_at) } : null;
    },

    async saveBucket(key, state) {
      await db
        .insertInto('auth_throttle')
        .values({ key, tokens: state.tokens, updated_at: state.updatedAt })
        .onConflict((oc) => oc.column('key').doUpdateSet({ tokens: state.tokens, updated_at: state.updatedAt }))
        .execute();
    },

    async deleteBucket(key) {
      await db.deleteFrom('auth_throttle').where('key', '=', key).execute();
    },

    async deleteStaleBuckets(updatedBefore) {
      const result = await db.deleteFrom('auth_throttle').where('updated_at', '<', updatedBefore).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
