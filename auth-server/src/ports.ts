import type { Role } from '@confab/protocol';
import type { StoredSession } from './domain/session';
import type { BucketState } from './domain/throttle';

/** The auth server's storage port. One contract suite (adapters/repository.contract.ts) runs on SQLite and PostgreSQL. */
export interface UserRow {
  id: string;
  email: string;
  displayName: string;
  createdAt: number;
}

export interface UserWithPassword extends UserRow {
  passwordHash: string;
}

export interface RoomRow {
  id: string;
  name: string;
  topic: string;
  createdAt: number;
}

export interface MemberRow {
  userId: string;
  email: string;
  displayName: string;
  role: Role;
}

export interface InviteRow {
  codeHash: string;
  roomId: string;
  role: 'member' | 'reader';
  maxUses: number | null;
  uses: number;
  expiresAt: number | null;
  createdBy: string;
  createdAt: number;
}

export interface KeyRow {
  kid: string;
  privateJwk: string;
  publicJwk: string;
  createdAt: number;
}

export type RedeemOutcome =
  | { kind: 'joined'; room: RoomRow; role: Role }
  | { kind: 'already_member'; room: RoomRow; role: Role }
  | { kind: 'not_found' }
  | { kind: 'invite_expired' }
  | { kind: 'invite_exhausted' };

export type MembershipChange = 'ok' | 'not_member' | 'last_owner';

export type UserDeletion =
  /** Deleted: the rooms it left (others stay members), the rooms that went with it (it was alone), its sessions. */
  | { kind: 'deleted'; leftRooms: string[]; deletedRooms: string[]; sessionIds: string[] }
  /** Not deleted: it is the only owner of these rooms, which have other members. */
  | { kind: 'sole_owner'; rooms: RoomRow[] }
  | { kind: 'not_found' };

export interface AuthRepository {
  createUser(user: UserWithPassword): Promise<'created' | 'email_taken'>;
  userByEmail(email: string): Promise<UserWithPassword | null>;
  userById(userId: string): Promise<UserRow | null>;
  setDisplayName(userId: string, displayName: string): Promise<UserRow | null>;
  /** The stored Argon2id PHC string; null when the user does not exist. */
  passwordHashOf(userId: string): Promise<string | null>;
  /** False when the user does not exist. */
  setPasswordHash(userId: string, passwordHash: string): Promise<boolean>;

  /**
   * Deletes the account in one transaction: its sessions, reset links and memberships, and the
   * rooms where it was the only member; refused while it is the only owner of a room with others.
   */
  deleteUser(userId: string): Promise<UserDeletion>;

  /** A password reset link: only the SHA-256 of its token is stored. */
  createPasswordReset(reset: {
    tokenHash: string;
    userId: string;
    createdAt: number;
    expiresAt: number;
  }): Promise<void>;
  /**
   * Uses a reset link, atomically: the user it was for when it exists and has not expired, else
   * null. Every link of that user is gone afterwards (one reset ends them all), and so is this one
   * when it had expired.
   */
  takePasswordReset(tokenHash: string, nowMs: number): Promise<string | null>;
  deleteExpiredPasswordResets(nowMs: number): Promise<number>;

  createSession(session: StoredSession): Promise<void>;
  sessionById(sessionId: string): Promise<StoredSession | null>;
  updateSession(sessionId: string, update: { expiresAt?: number; lastSeenAt?: number }): Promise<void>;
  /** True when it existed. */
  deleteSession(sessionId: string): Promise<boolean>;
  /** Deletes every session of the user but `exceptSessionId` (if given); returns the ids deleted. */
  deleteUserSessions(userId: string, exceptSessionId?: string): Promise<string[]>;
  sessionsOf(userId: string, nowMs: number): Promise<StoredSession[]>;
  deleteExpiredSessions(nowMs: number): Promise<number>;

  /** Creates the room with `ownerId` as its owner, in one transaction. */
  createRoom(room: RoomRow, ownerId: string): Promise<void>;
  roomById(roomId: string): Promise<RoomRow | null>;
  updateRoom(roomId: string, patch: { name?: string; topic?: string }): Promise<RoomRow | null>;
  roomsOf(userId: string): Promise<(RoomRow & { role: Role })[]>;
  members(roomId: string): Promise<MemberRow[]>;
  roleOf(roomId: string, userId: string): Promise<Role | null>;
  /** The caller's roles in the given rooms, in one query (sync-token batches depend on it). */
  rolesIn(userId: string, roomIds: readonly string[]): Promise<Map<string, Role>>;
  changeRole(roomId: string, userId: string, role: Role): Promise<MembershipChange>;
  removeMember(roomId: string, userId: string): Promise<MembershipChange>;
  /** Deletes the room with its memberships and invites, in one transaction; returns who were members. */
  deleteRoom(roomId: string): Promise<string[]>;

  createInvite(invite: InviteRow): Promise<void>;
  /** The invite and its room, read only (a preview uses no slot); null when either is gone. */
  inviteByCodeHash(codeHash: string): Promise<{ invite: InviteRow; room: RoomRow } | null>;
  /** Joins the room through the invite, atomically: uses are counted exactly even under concurrency. */
  redeemInvite(codeHash: string, userId: string, nowMs: number): Promise<RedeemOutcome>;
  /** Revokes an invite of this room; false when the room has no such invite. */
  deleteInvite(roomId: string, codeHash: string): Promise<boolean>;

  keys(): Promise<KeyRow[]>;
  addKey(key: KeyRow): Promise<void>;

  bucket(key: string): Promise<BucketState | null>;
  saveBucket(key: string, state: BucketState): Promise<void>;
  deleteBucket(key: string): Promise<void>;
  /** Drops buckets untouched since `updatedBefore` (by then they have refilled: a missing bucket is a full one). */
  deleteStaleBuckets(updatedBefore: number): Promise<number>;
}
