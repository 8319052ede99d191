import { type Generated, type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import { type Database, migrate } from '../db/database';

/**
 * The bus tables (prefix `bus_`, migration history `bus_migrations`), shared
 * by both adapters:
 * - `bus_events`: the in-process bus's log (seq order), unique on event id
 *   so a re-publish is dropped.
 * - `bus_consumers`: one row per durable: the highest seq it has been handed.
 * - `bus_pending`: events handed to a durable and not yet acked: in flight
 *   (leased) or waiting for their retry.
 * - `bus_outbox`: the NATS adapter's outbox: events not yet accepted by
 *   JetStream, unique on event id.
 * Sequence numbers and times are bigint; the pg driver returns them as
 * strings, so reads go through `Number()`.
 */
export interface BusTables {
  bus_events: {
    seq: Generated<number | string>;
    id: string;
    subject: string;
    payload: string;
    created_at: number | string;
  };
  bus_consumers: {
    durable: string;
    last_seq: number | string;
    created_at: number | string;
  };
  bus_pending: {
    durable: string;
    seq: number | string;
    attempts: number;
    next_attempt_at: number | string;
    lease_until: number | string;
    last_error: string | null;
    /** The subscriber that holds the lease (in-process), for its concurrency limit. */
    owner: Generated<string>;
  };
  bus_outbox: {
    seq: Generated<number | string>;
    id: string;
    subject: string;
    payload: string;
    created_at: number | string;
    lease_until: Generated<number | string>;
    attempts: Generated<number>;
  };
}

function migrations(kind: Database<unknown>['kind']): Record<string, Migration> {
  // SQLite's rowid alias keeps seq monotonic with AUTOINCREMENT; PostgreSQL uses an identity column.
  const seqColumn = () =>
    kind === 'postgres'
      ? sql.raw(`seq bigint generated always as identity primary key`)
      : sql.raw(`seq integer primary key autoincrement`);
  return {
    '0001_bus': {
      up: async (db: Kysely<unknown>) => {
        await sql`create table bus_events (
          ${seqColumn()},
          id text not null unique,
          subject text not null,
          payload text not null,
          created_at bigint not null
        )`.execute(db);
        await sql`create index bus_events_created_at on bus_events (created_at)`.execute(db);
        await sql`create table bus_consumers (
          durable text primary key,
          last_seq bigint not null default 0,
          created_at bigint not null
        )`.execute(db);
        await sql`create table bus_pending (
          durable text not null,
          seq bigint not null,
          attempts integer not null,
          next_attempt_at bigint not null,
          lease_until bigint not null,
          last_error text,
          primary key (durable, seq)
        )`.execute(db);
        await sql`create table bus_outbox (
          ${seqColumn()},
          id text not null unique,
          subject text not null,
          payload text not null,
          created_at bigint not null,
          lease_until bigint not null default 0,
          attempts integer not null default 0
        )`.execute(db);
      },
    },
    '0002_pending_owner': {
      up: async (db: Kysely<unknown>) => {
        await sql`alter table bus_pending add column owner text not null default ''`.execute(db);
      },
    },
  };
}

export async function migrateBus(database: Database<unknown>): Promise<void> {
  await migrate(database.db as Kysely<unknown>, 'bus', migrations(database.kind));
}

/** Narrows any service's database handle to the bus tables (they share one database). */
export function busDb(database: Database<unknown>): Kysely<BusTables> {
  return database.db as unknown as Kysely<BusTables>;
}
