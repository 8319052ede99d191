import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { type Migration, Migrator } from 'kysely/migration';
import { SqliteConnection, SqliteDurableDialect } from './sqlite';

/**
 * One way to open the database every service uses: PostgreSQL when a
 * `postgres://` URL is given, otherwise an SQLite file (WAL) under the data
 * directory. Services own their tables and their migrations (each with its
 * own migration table), so in the all-in-one mode they share one file.
 */
export type DatabaseKind = 'sqlite' | 'postgres';

export interface Database<DB> {
  readonly kind: DatabaseKind;
  readonly db: Kysely<DB>;
  /** SQLite on a file only: what a second connection of this process (another thread's) needs. */
  readonly sqlite?: SqliteFile;
  /** A cheap round trip, for /readyz. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface SqliteFile {
  /** The database file's absolute path. */
  readonly location: string;
  /**
   * Hands the WAL's checkpoints to `checkpoint`, run by another connection off the event loop
   * (SqliteConnection.delegateCheckpoints); the returned function takes them back.
   */
  delegateCheckpoints(checkpoint: () => Promise<void>): () => void;
  /** Counts since the connection opened, for metrics. */
  stats(): SqliteStats;
}

export interface SqliteStats {
  /** Statements on the event loop that found another connection holding the write lock, and waited 1 ms. */
  readonly busyRetries: number;
  /** Checkpoints handed to the delegate, and those the loop ran itself after the delegate failed. */
  readonly checkpointsDelegated: number;
  readonly checkpointsOnLoop: number;
}

export interface OpenDatabaseOptions {
  /** `postgres://…` selects PostgreSQL; undefined selects SQLite. */
  databaseUrl?: string | undefined;
  /** Directory for the SQLite file (`confab.db`). */
  dataDir: string;
  /** SQLite file name inside dataDir, or ':memory:'. Default `confab.db`. */
  sqliteFile?: string;
  /** PostgreSQL pool size. Default 10. */
  poolSize?: number;
}

/** Shared by every caller in one process that opens the same file: one connection, one Kysely, one lock. */
const sqliteHandles = new Map<string, { kysely: Kysely<unknown>; connection: SqliteConnection; refs: number }>();

/**
 * The pg driver, loaded the first time a PostgreSQL database is opened: a
 * process on SQLite (the all-in-one's default) never holds it in memory.
 * `openDatabase` stays synchronous, so this is a CommonJS require (pg is one).
 */
let pgModule: typeof import('pg') | undefined;
function loadPg(): typeof import('pg') {
  pgModule ??= createRequire(import.meta.url)('pg') as typeof import('pg');
  return pgModule;
}

export function openDatabase<DB>(options: OpenDatabaseOptions): Database<DB> {
  if (options.databaseUrl) {
    const pool = new (loadPg().Pool)({ connectionString: options.databaseUrl, max: options.poolSize ?? 10 });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    pool.on('error', () => {});
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    return {
      kind: 'postgres',
      db,
      ping: async () => {
        try {
          await pool.query('select 1');
          return true;
        } catch {
          return false;
        }
      },
      close: () => db.destroy(),
    };
  }

  const file = options.sqliteFile ?? 'confab.db';
  const location = file === ':memory:' ? file : path.resolve(options.dataDir, file);
  let handle = file === ':memory:' ? undefined : sqliteHandles.get(location);
  if (!handle) {
    if (location !== ':memory:') fs.mkdirSync(path.dirname(location), { recursive: true });
    // One better-sqlite3 connection on the event loop (sqlite.ts): WAL, synchronous=NORMAL, and every
    // commit answered only once an fdatasync of the WAL (on libuv's thread pool) has put it on disk, so
    // acknowledged writes survive power loss as with FULL while no commit's fsync blocks the loop.
    // That matters here: a server that loses acknowledged writes refuses the clients that still hold them.
    // ONE Kysely instance per file: its connection mutex is what keeps one caller's statements out of
    // another's open transaction on the single SQLite connection, and anyone's reads out of a commit
    // that is not yet durable.
    const connection = new SqliteConnection(location);
    const kysely = new Kysely<unknown>({ dialect: new SqliteDurableDialect(connection) });
    handle = { kysely, connection, refs: 0 };
    if (location !== ':memory:') sqliteHandles.set(location, handle);
  }
  handle.refs++;
  const shared = handle;
  let closed = false;
  return {
    kind: 'sqlite',
    db: shared.kysely as Kysely<DB>,
    ...(location === ':memory:'
      ? {}
      : {
          sqlite: {
            location,
            delegateCheckpoints: (checkpoint: () => Promise<void>) => shared.connection.delegateCheckpoints(checkpoint),
            stats: () => ({
              busyRetries: shared.connection.busyRetries,
              checkpointsDelegated: shared.connection.checkpoints.delegated,
              checkpointsOnLoop: shared.connection.checkpoints.onLoop,
            }),
          },
        }),
    ping: async () => {
      try {
        await sql`select 1`.execute(shared.kysely);
        return true;
      } catch {
        return false;
      }
    },
    close: async () => {
      if (closed) return;
      closed = true;
      shared.refs--;
      if (shared.refs === 0) {
        sqliteHandles.delete(location);
        // Destroying Kysely closes the connection (the last one to the file checkpoints the WAL into it).
        await shared.kysely.destroy();
      }
    },
  };
}

/**
 * Runs a service's migrations to the latest version. Each service passes its
 * own table name so their histories stay apart in a shared database.
 */
export async function migrate(
  db: Kysely<unknown>,
  table: string,
  migrations: Record<string, Migration>,
): Promise<void> {
  const migrator = new Migrator({
    db,
    migrationTableName: `${table}_migrations`,
    migrationLockTableName: `${table}_migrations_lock`,
    provider: { getMigrations: async () => migrations },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '?'} of ${table} failed`, { cause: error });
  }
}

/** Column type for binary data in the current dialect. */
export function blobType(kind: DatabaseKind): 'blob' | 'bytea' {
  return kind === 'postgres' ? 'bytea' : 'blob';
}
