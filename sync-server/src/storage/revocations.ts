import type { Database } from '@confab/platform';
import { type Kysely, sql } from 'kysely';
import type { SyncTables } from './schema';

export type RevocationKind = 'session' | 'membership';

export interface TokenFacts {
  readonly sessionId: string;
  readonly userId: string;
  /** Null for `user:` documents, which no membership governs. */
  readonly roomId: string | null;
  /** The token's `iat`, in epoch milliseconds. */
  readonly issuedAtMs: number;
}

/**
 * Sessions and (user, room) pairs whose tokens issued before a change are
 * refused. Kept in the database so every instance, and an instance that
 * restarts, refuses the same tokens; an entry is useless once the last token
 * it could refuse has expired, so `prune` drops it then.
 */
export interface RevocationList {
  revokeSession(sessionId: string, atMs: number): Promise<void>;
  /** Any change of a user's membership of a room (removal or new role) invalidates older tokens. */
  membershipChanged(userId: string, roomId: string, atMs: number): Promise<void>;
  /** Which rule refuses this token, or null when none does. */
  check(token: TokenFacts): Promise<RevocationKind | null>;
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
    return this.record('session', sessionId, atMs);
  }

  membershipChanged(userId: string, roomId: string, atMs: number): Promise<void> {
    return this.record('membership', membershipSubject(userId, roomId), atMs);
  }

  private async record(kind: RevocationKind, subject: string, atMs: number): Promise<void> {
    const expires = atMs + this.tokenTtlMs;
    await this.db
      .insertInto('sync_revocations')
      .values({ kind, subject, revoked_at: atMs, expires_at: expires })
      .onConflict((oc) =>
        // Redelivered or repeated events keep the latest change time.
        oc.columns(['kind', 'subject']).doUpdateSet({
          revoked_at: sql<number>`${sql.raw(this.greatest)}(sync_revocations.revoked_at, ${atMs})`,
          expires_at: sql<number>`${sql.raw(this.greatest)}(sync_revocations.expires_at, ${expires})`,
        }),
      )
      .execute();
  }

  async check(token: TokenFacts): Promise<RevocationKind | null> {
    const rows = await this.db
      .selectFrom('sync_revocations')
      .select(['kind', 'revoked_at'])
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
    if (rows.some((r) => r.kind === 'session')) return 'session';
    // `iat` has second resolution: a token from the same second as the change is refused too (the client retries).
    if (rows.some((r) => r.kind === 'membership' && token.issuedAtMs <= Number(r.revoked_at))) return 'membership';
    return null;
  }

  async prune(nowMs: number): Promise<number> {
    const result = await this.db.deleteFrom('sync_revocations').where('expires_at', '<', nowMs).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
