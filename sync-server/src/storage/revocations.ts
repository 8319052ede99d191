import type { Database } from '@confab/platform';
import { isRole, type Role } from '@confab/protocol';
import { type Kysely, sql } from 'kysely';
import type { SyncTables } from './schema';

/**
 * What the revocation list says about a token: `session` (signed out, refuse),
 * `membership` (removed from the room since it was issued, refuse), `role`
 * (the role changed since it was issued: serve the connection with `role`, the
 * one held now, as a fresh token would).
 */
export type Revocation = { kind: 'session' } | { kind: 'membership' } | { kind: 'role'; role: Role };

/** How much a role may do; null = not a member. */
const RANK: Record<Role, number> = { reader: 1, member: 2, owner: 3 };
export const roleRank = (role: Role | null): number => (role === null ? 0 : RANK[role]);

/**
 * The precise rule for a token issued at or before the user's latest
 * membership change of the room: removed since → refused; another role since
 * → the connection gets the role held now, down (a demotion) or up (a
 * promotion: a client that reconnects with a token it fetched before it was
 * promoted would otherwise be served as a reader again until that token
 * expired, up to 15 minutes). Nothing is refused but a removal, so the token
 * a client fetches in the same second as being invited (JWT `iat` has second
 * resolution) still works.
 */
export function membershipRevocation(tokenRole: Role, heldRole: Role | null): Revocation | null {
  if (heldRole === null) return { kind: 'membership' };
  return tokenRole === heldRole ? null : { kind: 'role', role: heldRole };
}

export interface TokenFacts {
  readonly sessionId: string;
  readonly userId: string;
  /** Null for `user:` documents, which no membership governs. */
  readonly roomId: string | null;
  /** The token's `iat`, in epoch milliseconds. */
  readonly issuedAtMs: number;
  /** The role the token grants. */
  readonly role: Role;
}

/**
 * Sessions and (user, room) pairs whose tokens issued before a change are
 * refused. Kept in the database so every instance, and an instance that
 * restarts, refuses the same tokens; an entry is useless once the last token
 * it could refuse has expired, so `prune` drops it then.
 */
export interface RevocationList {
  revokeSession(sessionId: string, atMs: number): Promise<void>;
  /**
   * A change of a user's membership of a room: `role` is the role held from
   * then on (null = removed). The latest change wins; older tokens are refused
   * (removed) or serve that role (see `membershipRevocation`).
   */
  membershipChanged(userId: string, roomId: string, role: Role | null, atMs: number): Promise<void>;
  /** Which rule limits this token, or null when none does. */
  check(token: TokenFacts): Promise<Revocation | null>;
  prune(nowMs: number): Promise<number>;
}

export const membershipSubject = (userId: string, roomId: string) => `${userId}|${roomId}`;

export class KyselyRevocationList implements RevocationList {
  private readonly db: Kysely<SyncTables>;
  /** SQLite spells the two-argument maximum `max`, PostgreSQL `greatest`. */
  private readonly greatest: string;

  /** @param tokenTtlMs how long a sync token can live (15 min per CONTRACT): entries are kept that long. */
  constructor(
    database: Database<unknown>,
    private readonly tokenTtlMs: number,
  ) {
    this.db = database.db as unknown as Kysely<SyncTables>;
    this.greatest = database.kind === 'postgres' ? 'greatest' : 'max';
  }

  revokeSession(sessionId: string, atMs: number): Promise<void> {
    return this.record('session', sessionId, null, atMs);
  }

  membershipChanged(userId: string, roomId: string, role: Role | null, atMs: number): Promise<void> {
    return this.record('membership', membershipSubject(userId, roomId), role, atMs);
  }

  private async record(
    kind: 'session' | 'membership',
    subject: string,
    role: Role | null,
    atMs: number,
  ): Promise<void> {
    const expires = atMs + this.tokenTtlMs;
    await this.db
      .insertInto('sync_revocations')
      .values({ kind, subject, role, revoked_at: atMs, expires_at: expires })
      .onConflict((oc) =>
        // Redelivered, repeated or out-of-order events (the consumer runs 16 at a time) keep the
        // latest change and the role it set; on a tie the later write wins, as the auth server's would.
        oc.columns(['kind', 'subject']).doUpdateSet({
          role: sql<
            string | null
          >`case when ${atMs} >= sync_revocations.revoked_at then ${role} else sync_revocations.role end`,
          revoked_at: sql<number>`${sql.raw(this.greatest)}(sync_revocations.revoked_at, ${atMs})`,
          expires_at: sql<number>`${sql.raw(this.greatest)}(sync_revocations.expires_at, ${expires})`,
        }),
      )
      .execute();
  }

  async check(token: TokenFacts): Promise<Revocation | null> {
    const rows = await this.db
      .selectFrom('sync_revocations')
      .select(['kind', 'role', 'revoked_at'])
      .where((eb) =>
        eb.or([
          eb.and([eb('kind', '=', 'session'), eb('subject', '=', token.sessionId)]),
          ...(token.roomId === null
            ? []
            : [
                eb.and([
                  eb('kind', '=', 'membership'),
                  eb('subject', '=', membershipSubject(token.userId, token.roomId)),
                ]),
              ]),
        ]),
      )
      .execute();
    // A revoked session stays revoked: its later tokens can only come from a forged or replayed request.
    if (rows.some((r) => r.kind === 'session')) return { kind: 'session' };
    const change = rows.find((r) => r.kind === 'membership');
    // A token issued after the latest change reflects it. `iat` has second resolution: a token from the same
    // second as the change is judged by the rule.
    if (!change || token.issuedAtMs > Number(change.revoked_at)) return null;
    // Null: removed, or a row written before roles were recorded (those were removals and demotions to reader).
    return membershipRevocation(token.role, isRole(change.role) ? change.role : null);
  }

  async prune(nowMs: number): Promise<number> {
    const result = await this.db.deleteFrom('sync_revocations').where('expires_at', '<', nowMs).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
