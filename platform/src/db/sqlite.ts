import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';

type Statement = BetterSqlite3.Statement<unknown[], unknown>;

/** Prepared statements kept; Kysely's SQL strings repeat (one per query shape and list length). */
const STATEMENT_CACHE_SIZE = 256;

/** What one statement, or one batch, answers. */
export interface SqliteReply {
  rows?: unknown[];
  changes?: number;
  lastInsertRowid?: number | bigint;
}

/** An error from SQLite, with better-sqlite3's `code` (e.g. SQLITE_CONSTRAINT_UNIQUE) kept. */
export class SqliteError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SqliteError';
    this.code = code;
  }
}

export interface SqliteConnectionOptions {
  /** Prepared statements kept (LRU). */
  cacheSize?: number;
  /** How a commit is made durable; `fs.fdatasync` on the WAL. A test seam. */
  fdatasync?: (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => void;
  /** How long a statement keeps trying while another connection holds the write lock, in ms. Default 5,000. */
  busyTimeoutMs?: number;
}

/** Commits between two checkpoints handed to a delegate (see `delegateCheckpoints`). */
export const CHECKPOINT_EVERY_COMMITS = 256;
/** How soon a statement that found the write lock taken tries again, in ms. */
const BUSY_RETRY_MS = 1;
const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The one better-sqlite3 connection to a file, on the event loop, with its
 * commits made durable off it.
 *
 * SQLite's own durable commit (`synchronous = FULL`) fsyncs the WAL inside the
 * statement, and on the event loop that stopped every socket of the process
 * for the length of an fsync (milliseconds on a cloud disk). The connection
 * used to live in a worker thread for that reason, which cost the process
 * 17–20 MB (a second V8 isolate) for work that is otherwise a few tens of µs
 * per commit. Here it runs `synchronous = NORMAL`: a commit writes its WAL
 * frames to the page cache and returns, durable against a crash of the
 * process (kill -9) but not yet against power loss; then every write that
 * ends a transaction (a batch, a COMMIT, a statement outside a transaction)
 * waits for an `fdatasync` of the WAL on libuv's thread pool before its
 * promise resolves. What a caller sees as committed has reached the disk,
 * as with FULL, and the loop serves other sockets meanwhile.
 *
 * SQLite's crash consistency stays NORMAL's own: it syncs the WAL before a
 * checkpoint, the database file after it, and the WAL's header when the WAL
 * starts over, all inside the statement that triggers the checkpoint (every
 * 1,000 WAL pages, SQLite's default), so those few fsyncs run on the loop
 * unless the checkpoints are handed to another connection
 * (`delegateCheckpoints`). The extra fdatasync only adds to that.
 *
 * Statements run one at a time: Kysely hands its single connection to one
 * caller at a time, and a caller waiting for its commit's fdatasync holds it.
 * So no one reads a commit before it is durable, and the next transaction (a
 * group commit gathering the appends that arrived meanwhile) starts after the
 * previous one is on disk. If an fdatasync fails, the connection refuses
 * everything from then on: after a failed fsync the kernel may have dropped
 * the dirty pages, and a later fsync that succeeds proves nothing.
 *
 * Another connection to the file (a worker thread's, writing large
 * transactions and checkpointing off the loop: `delegateCheckpoints`) may
 * hold SQLite's write lock. A statement here never waits for it on the loop
 * (`busy_timeout = 0`): one that finds the lock taken gives the loop back and
 * tries again a millisecond later, for up to `busyTimeoutMs`. Transactions
 * begin IMMEDIATE, taking the write lock at BEGIN, so a statement inside one
 * never finds it taken; a batch that does is retried whole (nothing of it
 * was kept).
 */
export class SqliteConnection {
  private readonly db: BetterSqlite3.Database;
  private readonly cache = new Map<string, Statement>();
  private readonly cacheSize: number;
  private readonly fdatasync: NonNullable<SqliteConnectionOptions['fdatasync']>;
  private readonly walPath: string | null;
  private walFd: number | null = null;
  private readonly busyTimeoutMs: number;
  private failure: Error | null = null;
  private closed = false;
  /** Statements (or batches) that found the write lock taken and were tried again. */
  busyRetries = 0;
  /** Checkpoints asked of the delegate, and run on this connection after the delegate failed. */
  readonly checkpoints = { delegated: 0, onLoop: 0 };
  private checkpointer: (() => Promise<void>) | null = null;
  private commitsSinceCheckpoint = 0;
  private checkpointing = false;
  /** Whether the open transaction has run a statement that writes. */
  private transactionWrote = false;

  constructor(location: string, options: SqliteConnectionOptions = {}) {
    this.cacheSize = options.cacheSize ?? STATEMENT_CACHE_SIZE;
    this.fdatasync = options.fdatasync ?? fs.fdatasync;
    this.busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    const SQLite = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
    this.db = new SQLite(location);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    // Never wait on the loop for another connection's write lock: retried off it instead (see above).
    this.db.pragma('busy_timeout = 0');
    // Temporary files in memory. A multi-row insert inside a transaction keeps a statement journal
    // (to undo just that statement), and past 64 KiB SQLite spills it to a new file in /var/tmp: under
    // load the sync server's group commits opened ~28 such files a second and wrote ~750 pages into
    // them (strace, rooms of 10 at 20,000 deliveries/s). Statement journals play no part in recovery.
    this.db.pragma('temp_store = MEMORY');
    this.walPath = location === ':memory:' || location === '' ? null : `${location}-wal`;
  }

  private usable(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new SqliteError('the SQLite connection is closed', undefined);
  }

  private prepare(sql: string): Statement {
    let statement = this.cache.get(sql);
    if (statement) this.cache.delete(sql);
    else {
      statement = this.db.prepare(sql);
      if (this.cache.size >= this.cacheSize) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
    }
    this.cache.set(sql, statement);
    return statement;
  }

  /** The WAL's file descriptor, opened after the first commit (SQLite creates the file lazily). */
  private wal(): number | null {
    if (this.walFd !== null || this.walPath === null) return this.walFd;
    try {
      this.walFd = fs.openSync(this.walPath, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    // Once: a new file's name is durable only when its directory is synced.
    const dir = fs.openSync(path.dirname(this.walPath), 'r');
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
    return this.walFd;
  }

  /** Resolves once everything committed so far is on disk. */
  private durable(): Promise<void> {
    const fd = this.wal();
    if (fd === null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.fdatasync(fd, (error) => {
        if (!error) return resolve();
        this.failure ??= new SqliteError(`the SQLite WAL could not be synced: ${error.message}`, error.code, {
          cause: error,
        });
        reject(this.failure);
      });
    });
  }

  /** Whether `error` is another connection holding the lock, and waiting for it may still succeed. */
  private retryable(error: unknown, startedAt: number): boolean {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY')) return false;
    // A read transaction whose snapshot a commit has outdated cannot be brought back by waiting.
    if (code === 'SQLITE_BUSY_SNAPSHOT' && this.db.inTransaction) return false;
    return performance.now() - startedAt < this.busyTimeoutMs;
  }

  /** Runs `attempt` until it does not find the write lock taken (or the busy timeout passes). */
  private async untilNotBusy<T>(attempt: () => T): Promise<T> {
    const startedAt = performance.now();
    for (;;) {
      try {
        return attempt();
      } catch (error) {
        if (!this.retryable(error, startedAt)) throw asSqliteError(error);
      }
      this.busyRetries++;
      await sleep(BUSY_RETRY_MS);
      this.usable();
    }
  }

  async query(sql: string, parameters: readonly unknown[]): Promise<SqliteReply> {
    this.usable();
    const inTransaction = this.db.inTransaction;
    let writes = false;
    const reply = await this.untilNotBusy((): SqliteReply => {
      const statement = this.prepare(sql);
      if (statement.reader) return { rows: statement.all(parameters as unknown[]) };
      writes = true;
      const result = statement.run(parameters as unknown[]);
      return { changes: result.changes, lastInsertRowid: result.lastInsertRowid };
    });
    if (!writes) return reply;
    if (this.db.inTransaction) {
      // A statement inside a transaction (not its BEGIN) makes its COMMIT one to wait for.
      if (inTransaction) this.transactionWrote = true;
      return reply;
    }
    // A write outside a transaction, or the end of one that wrote: answered once it is on disk. A
    // transaction that only read (a room's load) has nothing to sync.
    const wrote = !inTransaction || this.transactionWrote;
    this.transactionWrote = false;
    if (wrote) await this.committed();
    return reply;
  }

  /** Runs the statements as one transaction; resolves once it is on disk, rejects (keeping none) if one fails. */
  async batch(queries: ReadonlyArray<{ sql: string; parameters: readonly unknown[] }>): Promise<SqliteReply> {
    this.usable();
    const changes = await this.untilNotBusy(() => {
      let changed = 0;
      this.db
        .transaction(() => {
          for (const query of queries) {
            const statement = this.prepare(query.sql);
            if (statement.reader) statement.all(query.parameters as unknown[]);
            else changed += statement.run(query.parameters as unknown[]).changes;
          }
        })
        .immediate();
      return changed;
    });
    await this.committed();
    return { changes };
  }

  /** After a commit: durable before the caller hears of it, and a checkpoint asked for when one is due. */
  private committed(): Promise<void> {
    if (this.checkpointer && ++this.commitsSinceCheckpoint >= CHECKPOINT_EVERY_COMMITS) this.checkpoint();
    return this.durable();
  }

  /**
   * Hands the WAL's checkpoints to `checkpoint` (another connection's, off the loop): SQLite's own
   * (every 1,000 pages, inside whichever commit crosses the line) copies pages into the file and
   * fsyncs it on the loop. From now on this connection checkpoints nothing itself and calls
   * `checkpoint` every CHECKPOINT_EVERY_COMMITS commits, one at a time; if that fails, it runs a
   * PASSIVE checkpoint itself, so the WAL cannot grow without bound. The returned function takes
   * them back.
   */
  delegateCheckpoints(checkpoint: () => Promise<void>): () => void {
    this.checkpointer = checkpoint;
    this.db.pragma('wal_autocheckpoint = 0');
    return () => {
      if (this.checkpointer !== checkpoint) return;
      this.checkpointer = null;
      if (!this.closed) this.db.pragma('wal_autocheckpoint = 1000');
    };
  }

  private checkpoint(): void {
    const checkpointer = this.checkpointer;
    if (!checkpointer || this.checkpointing) return;
    this.checkpointing = true;
    this.commitsSinceCheckpoint = 0;
    this.checkpoints.delegated++;
    checkpointer()
      .catch(() => {
        if (this.closed || this.failure) return;
        this.checkpoints.onLoop++;
        this.db.pragma('wal_checkpoint(PASSIVE)');
      })
      .finally(() => {
        this.checkpointing = false;
      });
  }

  /** Closes the connection; SQLite checkpoints the WAL into the database file and removes it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    // FULL for the closing checkpoint: it syncs the WAL before and the database file after.
    if (!this.failure) this.db.pragma('synchronous = FULL');
    this.db.close();
    if (this.walFd !== null) fs.closeSync(this.walFd);
    this.walFd = null;
  }
}

function asSqliteError(error: unknown): SqliteError {
  const e = error as { message?: string; code?: string } | null;
  return new SqliteError(String(e?.message ?? error), e?.code);
}

/** The SQL text that marks a `sqliteBatch` query for the connection. */
const BATCH_SQL = '-- confab: batch';

/**
 * Write statements run as one transaction in one call:
 * `db.executeQuery(sqliteBatch([...compiled]))`. A Kysely transaction is a
 * call per statement plus BEGIN and COMMIT, each through Kysely's connection
 * queue; on the sync server's append path one call is what keeps the store's
 * cost down. Going through `executeQuery` keeps Kysely's lock on the one
 * connection, so no other caller's transaction can be open around it. Only
 * for SQLite (`Database.kind === 'sqlite'`); result rows are not returned.
 */
export function sqliteBatch(queries: readonly CompiledQuery[]): CompiledQuery {
  return CompiledQuery.raw(BATCH_SQL, [queries.map((q) => ({ sql: q.sql, parameters: q.parameters }))]);
}

class KyselyConnection implements DatabaseConnection {
  constructor(private readonly connection: SqliteConnection) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    if (compiledQuery.sql === BATCH_SQL) {
      const queries = compiledQuery.parameters[0] as Array<{ sql: string; parameters: readonly unknown[] }>;
      const reply = await this.connection.batch(queries);
      return { rows: [], numAffectedRows: BigInt(reply.changes ?? 0) };
    }
    const reply = await this.connection.query(compiledQuery.sql, compiledQuery.parameters);
    if (reply.rows) return { rows: reply.rows as R[] };
    return {
      rows: [],
      ...(reply.changes == null ? {} : { numAffectedRows: BigInt(reply.changes) }),
      ...(reply.lastInsertRowid == null ? {} : { insertId: BigInt(reply.lastInsertRowid) }),
    };
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    // Yielded one by one, as Kysely's own SQLite driver does.
    const result = await this.executeQuery<R>(compiledQuery);
    for (const row of result.rows) yield { rows: [row] };
  }
}

class SqliteDriver implements Driver {
  private readonly kyselyConnection: KyselyConnection;
  constructor(private readonly connection: SqliteConnection) {
    this.kyselyConnection = new KyselyConnection(connection);
  }
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    // One connection; Kysely's runtime driver serialises its users (SqliteAdapter: no multiple connections).
    return this.kyselyConnection;
  }
  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    // IMMEDIATE: the write lock is taken (or waited for, off the loop) at BEGIN, never by a statement inside.
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }
  async releaseConnection(): Promise<void> {}
  async destroy(): Promise<void> {
    await this.connection.close();
  }
}

/**
 * Kysely's SQLite dialect (compiler, adapter, introspector) over a
 * `SqliteConnection`: Kysely's own SqliteDialect would commit with SQLite's
 * fsync on the event loop, and has no batch.
 */
export class SqliteDurableDialect implements Dialect {
  constructor(private readonly connection: SqliteConnection) {}
  createDriver(): Driver {
    return new SqliteDriver(this.connection);
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }
  // biome-ignore lint/suspicious/noExplicitAny: Kysely's own dialects take any database here.
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
