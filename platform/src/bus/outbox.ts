import type { Database } from '../db/database';
import { groupCommit } from '../db/group-commit';
import type { BusEvent } from './port';
import { serializeEvent } from './rules';
import { busDb } from './schema';

export interface OutboxRow {
  readonly seq: number;
  readonly id: string;
  readonly subject: string;
  readonly payload: string;
  readonly attempts: number;
}

/**
 * The NATS adapter's database outbox (`bus_outbox`): `publish` lands here
 * first, a relay hands rows to JetStream and deletes them once JetStream has
 * acknowledged them. Rows are claimed with a lease, so several processes
 * sharing one PostgreSQL do not relay the same row at the same time (and if
 * one dies mid-relay, its rows come back when the lease runs out; the
 * Nats-Msg-Id dedupe drops the copy JetStream may already hold).
 */
export function createOutbox(database: Database<unknown>, now: () => number = Date.now) {
  const db = busDb(database);
  const isPg = database.kind === 'postgres';

  // Concurrent publishes share one transaction (one fsync on SQLite; see inprocess.ts for the turn).
  const append = groupCommit<{ id: string; subject: string; payload: string }>(
    async (rows) => {
      const t = now();
      await db
        .insertInto('bus_outbox')
        .values(rows.map((row) => ({ ...row, created_at: t })))
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    },
    { collectUntilNextTurn: !isPg },
  );

  return {
    /** Durable once this resolves. A row whose id is already waiting is dropped. Throws for a bad event. */
    async add(subject: string, event: BusEvent, maxBytes?: number): Promise<void> {
      await append({ id: event.id, subject, payload: serializeEvent(event, maxBytes) });
    },

    /** Up to `limit` unleased rows, oldest first, leased to the caller for `leaseMs`. */
    async claim(limit: number, leaseMs: number): Promise<OutboxRow[]> {
      const t = now();
      return db.transaction().execute(async (trx) => {
        let query = trx
          .selectFrom('bus_outbox')
          .select(['seq', 'id', 'subject', 'payload', 'attempts'])
          .where('lease_until', '<=', t)
          .orderBy('seq')
          .limit(limit);
        if (isPg) query = query.forUpdate().skipLocked();
        const rows = await query.execute();
        if (rows.length === 0) return [];
        const seqs = rows.map((r) => Number(r.seq));
        await trx
          .updateTable('bus_outbox')
          .set({ lease_until: t + leaseMs })
          .where('seq', 'in', seqs)
          .execute();
        return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
      });
    },

    /** JetStream has them: gone. */
    async remove(seqs: number[]): Promise<void> {
      if (seqs.length > 0) await db.deleteFrom('bus_outbox').where('seq', 'in', seqs).execute();
    },

    /** Relaying failed: make them claimable again right away (the relay itself backs off). */
    async release(seqs: number[]): Promise<void> {
      if (seqs.length === 0) return;
      await db
        .updateTable('bus_outbox')
        .set((eb) => ({ lease_until: 0, attempts: eb('attempts', '+', 1) }))
        .where('seq', 'in', seqs)
        .execute();
    },

    async depth(): Promise<number> {
      const row = await db
        .selectFrom('bus_outbox')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst();
      return Number(row?.n ?? 0);
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
