import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/*
 * The sync server's SQLite connection as it was until the twenty-first pass (docs/sync.md): one
 * better-sqlite3 connection in a worker thread, synchronous = FULL. Kept here, outside the product,
 * as the `thread` baseline of bench/sqlite-writers.ts.
 */

/** Prepared statements the worker keeps; Kysely's SQL strings repeat (one per query shape and list length). */
const STATEMENT_CACHE_SIZE = 256;

/**
 * The worker's whole program, plain CommonJS evaluated in the thread (so it
 * survives bundling and any TypeScript transform unchanged). It owns the one
 * better-sqlite3 connection to the file and runs one statement per message,
 * in arrival order, answering `{ id, rows }`, `{ id, changes, lastInsertRowid }`
 * or `{ id, error }`. Prepared statements are kept in a small LRU: Kysely
 * prepares every query it runs, and compiling the same few statements again
 * cost as much as running them on the sync server's hot path.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const SQLite = require(workerData.driverPath);
const db = new SQLite(workerData.location);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');
db.pragma('busy_timeout = 5000');
// Temporary files in memory. A multi-row insert inside a transaction keeps a statement journal
// (to undo just that statement), and past 64 KiB SQLite spills it to a new file in /var/tmp: under
// load the sync server's group commits opened ~28 such files a second and wrote ~750 pages into
// them (strace, rooms of 10 at 20,000 deliveries/s). Statement journals play no part in recovery.
db.pragma('temp_store = MEMORY');
const cache = new Map();
function prepare(sql) {
  let statement = cache.get(sql);
  if (statement) cache.delete(sql);
  else {
    statement = db.prepare(sql);
    if (cache.size >= workerData.cacheSize) cache.delete(cache.keys().next().value);
  }
  cache.set(sql, statement);
  return statement;
}
parentPort.on('message', (message) => {
  if (message.close) {
    cache.clear();
    db.close();
    parentPort.postMessage({ id: message.id, rows: [] });
    parentPort.close();
    return;
  }
  try {
    if (message.batch) {
      // One transaction, one message: every statement runs, or none is kept.
      let changes = 0;
      db.transaction(() => {
        for (const query of message.batch) {
          const statement = prepare(query.sql);
          if (statement.reader) statement.all(query.parameters);
          else changes += statement.run(query.parameters).changes;
        }
      })();
      parentPort.postMessage({ id: message.id, changes });
      return;
    }
    const statement = prepare(message.sql);
    if (statement.reader) {
      parentPort.postMessage({ id: message.id, rows: statement.all(message.parameters) });
    } else {
      const result = statement.run(message.parameters);
      parentPort.postMessage({ id: message.id, changes: result.changes, lastInsertRowid: result.lastInsertRowid });
    }
  } catch (error) {
    parentPort.postMessage({
      id: message.id,
      error: { message: String(error && error.message), code: error && error.code, name: error && error.name },
    });
  }
});
`;

interface Reply {
  id: number;
  rows?: unknown[];
  changes?: number;
  lastInsertRowid?: number | bigint;
  error?: { message: string; code?: string; name?: string };
}

/**
 * A byte view as its own bytes. postMessage copies a typed array's whole
 * underlying buffer, and an update is often a view into a socket read or
 * Node's 8 KiB Buffer pool: copying just the view is what makes a log append
 * cost its own size.
 */
function compact(parameter: unknown): unknown {
  if (parameter instanceof Uint8Array && parameter.byteLength !== parameter.buffer.byteLength) {
    return new Uint8Array(parameter);
  }
  return parameter;
}

/** An error from SQLite, with better-sqlite3's `code` (e.g. SQLITE_CONSTRAINT_UNIQUE) kept. */
export class SqliteError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.name = 'SqliteError';
    this.code = code;
  }
}

/**
 * One SQLite connection living in a worker thread. better-sqlite3 is
 * synchronous: on the event loop, every statement, and every commit's fsync
 * (synchronous=FULL: a few hundred µs to milliseconds), stopped every socket
 * and every room of the process. Here the loop only posts the statement and
 * goes on; the worker runs statements one at a time, in order. The worker
 * keeps the process alive only while a statement is outstanding.
 */
export class SqliteWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private failure: Error | null = null;
  private closing: Promise<void> | null = null;
  /** From close() on, the thread keeps the process alive until it has exited. */
  private closeRequested = false;

  constructor(location: string, cacheSize = STATEMENT_CACHE_SIZE) {
    const driverPath = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Plain Node in the thread: no TypeScript loader to start for 60 lines of CommonJS. A CPU profile
      // asked of the process (--cpu-prof, --cpu-prof-dir=…) covers the thread too.
      execArgv: process.execArgv.filter((arg) => arg.startsWith('--cpu-prof')),
      workerData: { location, driverPath, cacheSize },
    });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0 && !this.closeRequested) this.worker.unref();
      waiter.resolve(reply);
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    this.worker.on('error', (error) => fail(error));
    this.worker.on('exit', (code) => fail(new Error(`the SQLite worker exited (code ${code})`)));
  }

  private send(message: object): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = ++this.nextId;
    return new Promise<Reply>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...message });
    });
  }

  async query(sql: string, parameters: readonly unknown[]): Promise<Reply> {
    const reply = await this.send({ sql, parameters: parameters.map(compact) });
    if (reply.error) throw new SqliteError(reply.error.message, reply.error.code);
    return reply;
  }

  /** Runs the statements in one transaction, in one message each way; rejects (and keeps none) if one fails. */
  async batch(queries: ReadonlyArray<{ sql: string; parameters: readonly unknown[] }>): Promise<Reply> {
    const reply = await this.send({
      batch: queries.map((q) => ({ sql: q.sql, parameters: q.parameters.map(compact) })),
    });
    if (reply.error) throw new SqliteError(reply.error.message, reply.error.code);
    return reply;
  }

  /** Closes the connection (after the statements already sent) and ends the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Held until the thread is gone: the caller awaits this, and an unref'd thread would let the
      // process end first, with the connection never closed (its WAL never checkpointed).
      this.closeRequested = true;
      this.worker.ref();
      const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      if (!this.failure) await this.send({ close: true }).catch(() => {});
      await this.worker.terminate();
      await exited;
    })();
    return this.closing;
  }
}
