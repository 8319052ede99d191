import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import * as Y from 'yjs';
import type { CompactionResult } from './sync-store';

/**
 * Folds a room's snapshot and log rows into one new snapshot: the Yjs work of
 * a compaction. It is room-sized (applying a 10,000-message room and encoding
 * it again takes tens of milliseconds, 100,000 messages over a second), so the
 * sync server does it in a worker thread: the event loop, which every room of
 * the process shares, only packs the bytes and takes the result back.
 */
export type UpdateMerger = (snapshot: Uint8Array | null, updates: readonly Uint8Array[]) => Promise<Uint8Array>;

/**
 * Log rows applied per Yjs transaction, when a room is loaded and when it is
 * folded. Not all of them in one: at the end of a transaction Yjs merges each
 * new item into the one before it when both come from one client in a row, and
 * a message array's item copies its whole content on every such merge, so one
 * transaction over a long run of one client's messages costs quadratic time
 * and garbage. Folding 20,000 messages a single client sent in a row took
 * 5.4 s with a heap peak of 2.7 GB in one transaction, 240 ms and 2 MB in
 * transactions of 256 rows; rows of four clients taking turns, about 20% more
 * time in transactions of 256 than in one.
 */
export const ROWS_PER_TRANSACTION = 256;

/**
 * Applies log rows to `doc` in order, ROWS_PER_TRANSACTION per Yjs transaction, yielding after each
 * (a room's load runs it in time slices; the inline merge runs it through).
 */
export function* applyRows(doc: Y.Doc, updates: readonly Uint8Array[]): Generator<void> {
  for (let i = 0; i < updates.length; i += ROWS_PER_TRANSACTION) {
    doc.transact(() => {
      for (const update of updates.slice(i, i + ROWS_PER_TRANSACTION)) Y.applyUpdate(doc, update);
    });
    yield;
  }
}

/**
 * The merge on the calling thread: the snapshot and the rows applied, in
 * order (applyRows), to a fresh document with garbage collection on (so a
 * deleted message's text is dropped), and its state encoded.
 */
export const mergeInline: UpdateMerger = async (snapshot, updates) => {
  const doc = new Y.Doc({ gc: true });
  try {
    if (snapshot) Y.applyUpdate(doc, snapshot);
    for (const _ of applyRows(doc, updates));
    return Y.encodeStateAsUpdate(doc);
  } finally {
    doc.destroy();
  }
};

/** The compaction's write, as the store hands it to a CompactionWriter. */
export interface CompactionWrite {
  readonly document: string;
  /** The snapshot generation the compaction started from: the write commits only if it is still the stored one. */
  readonly expectedGeneration: string | null;
  /** The new snapshot's generation. */
  readonly generation: string;
  readonly now: number;
  /** The log rows folded into the new snapshot: deleted in its transaction. */
  readonly seqs: ReadonlyArray<number | string>;
  /** The new snapshot. */
  readonly state: Uint8Array;
}

/**
 * Writes a compaction somewhere other than the store's own connection: the
 * snapshot and the deletion of the rows it folds, as one transaction that
 * commits only if the stored snapshot is still `expectedGeneration`'s.
 * Resolves with the new snapshot's size, or null when another compaction won.
 */
export interface CompactionWriter {
  writeCompaction(write: CompactionWrite): Promise<{ readonly snapshotBytes: number } | null>;
  /**
   * The whole compaction of a room read from storage, where the writer can read it itself: its snapshot
   * and log rows read together, merged, and written as `writeCompaction` writes (null: nothing to fold,
   * or another compaction won). The event loop then reads none of the room.
   */
  foldFromStorage(fold: StorageFold): Promise<CompactionResult | null>;
}

/** What `foldFromStorage` needs besides the room's rows: the new snapshot's generation and time. */
export interface StorageFold {
  readonly document: string;
  readonly generation: string;
  readonly now: number;
}

/**
 * The thread's whole program, plain CommonJS evaluated in the thread, with the
 * same `yjs` (and `better-sqlite3`) the server uses. One message in, one out:
 * - `{ id, kind: 'merge', packed, lengths }` (every update back to back in one
 *   transferred buffer) answered by `{ id, state }` (transferred);
 * - with a database file: `{ id, kind: 'compact', write, state }` answered by `{ id, written, snapshotBytes }`; `{ id, kind:
 *   'fold', document, generation, now }` (read the room here, merge, write)
 *   answered by `{ id, written, snapshotBytes, mergedUpdates, mergedBytes }`;
 *   `{ id, kind: 'checkpoint' }` answered by `{ id }`. A compaction that
 *   wrote is followed by a checkpoint, after its answer;
 * - `{ id, error }` when one fails; `{ close: true }` ends the thread.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Y = require(workerData.yjsPath);

// The snapshot and rows applied in order, rowsPerTransaction per Yjs transaction (see ROWS_PER_TRANSACTION).
function mergeParts(parts) {
  const doc = new Y.Doc({ gc: true });
  try {
    for (let i = 0; i < parts.length; i += workerData.rowsPerTransaction) {
      doc.transact(() => {
        for (const part of parts.slice(i, i + workerData.rowsPerTransaction)) Y.applyUpdate(doc, part);
      });
    }
    return Y.encodeStateAsUpdate(doc);
  } finally {
    doc.destroy();
  }
}

function merge(packed, lengths) {
  const bytes = new Uint8Array(packed);
  const parts = [];
  let offset = 0;
  for (const length of lengths) {
    parts.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return mergeParts(parts);
}

// The second connection to the server's SQLite file, opened by the first compaction or checkpoint.
let db = null;
let sql = null;
function database() {
  if (db) return sql;
  const SQLite = require(workerData.sqlite.driverPath);
  db = new SQLite(workerData.sqlite.location);
  // FULL: a compaction is durable when it commits (a thread may wait for its fsync; the loop does not).
  db.pragma('synchronous = FULL');
  // The loop's connection never holds the write lock for long (its group commits take well under a ms).
  db.pragma('busy_timeout = 5000');
  db.pragma('temp_store = MEMORY');
  db.pragma('wal_autocheckpoint = 0');
  sql = {
    generation: db.prepare('select generation from sync_snapshots where document = ?').pluck(),
    snapshot: db.prepare(
      'insert into sync_snapshots (document, state, bytes, generation, updated_at) values (?, ?, ?, ?, ?) ' +
        'on conflict (document) do update set state = excluded.state, bytes = excluded.bytes, ' +
        'generation = excluded.generation, updated_at = excluded.updated_at',
    ),
    fold: db.prepare('delete from sync_updates where seq in (select value from json_each(?))'),
    snapshotRow: db.prepare('select state, generation from sync_snapshots where document = ?'),
    logRows: db.prepare('select seq, "update", bytes from sync_updates where document = ? order by seq'),
    mark: db.prepare('insert into sync_checkpoints (id, at) values (1, ?) on conflict (id) do update set at = excluded.at'),
  };
  sql.write = db.transaction((write, state) => {
    if ((sql.generation.get(write.document) ?? null) !== write.expectedGeneration) return false;
    sql.snapshot.run(write.document, state, state.byteLength, write.generation, write.now);
    if (workerData.failAfterSnapshotWrite) throw new Error('simulated crash after the snapshot write');
    sql.fold.run(JSON.stringify(write.seqs));
    return true;
  }).immediate;
  // Snapshot and log from one point in time (a read transaction: it never blocks the loop's writes).
  sql.read = db.transaction((document) => ({ snapshot: sql.snapshotRow.get(document), rows: sql.logRows.all(document) }));
  return sql;
}

// A room read from storage here, merged and written: the event loop reads none of it.
function foldFromStorage(message) {
  const { snapshot, rows } = database().read(message.document);
  if (rows.length === 0) return { id: message.id, written: false };
  const parts = snapshot ? [snapshot.state, ...rows.map((row) => row.update)] : rows.map((row) => row.update);
  const state = mergeParts(parts);
  const write = {
    document: message.document,
    expectedGeneration: snapshot ? snapshot.generation : null,
    generation: message.generation,
    now: message.now,
    seqs: rows.map((row) => row.seq),
  };
  const written = sql.write(write, state);
  let mergedBytes = 0;
  for (const row of rows) mergedBytes += row.bytes;
  return { id: message.id, written, snapshotBytes: state.byteLength, mergedUpdates: rows.length, mergedBytes };
}

// Copies the WAL into the file (PASSIVE: never waits for the loop's connection). When all of it was
// copied, the next write starts the WAL over and syncs its new header: one row written here makes that
// this thread's fsync, not the next group commit's on the loop.
function checkpoint() {
  const statements = database();
  const [result] = db.pragma('wal_checkpoint(PASSIVE)');
  if (result && result.busy === 0 && result.log > 0 && result.checkpointed === result.log) {
    statements.mark.run(Date.now());
  }
}

parentPort.on('message', (message) => {
  if (message.close) {
    if (db) db.close();
    parentPort.close();
    return;
  }
  const { id } = message;
  try {
    if (message.kind === 'checkpoint') {
      checkpoint();
      parentPort.postMessage({ id });
      return;
    }
    if (message.kind === 'fold') {
      const reply = foldFromStorage(message);
      parentPort.postMessage(reply);
      if (reply.written) checkpoint();
      return;
    }
    if (message.kind === 'compact') {
      const written = database().write(message.write, message.state);
      parentPort.postMessage({ id, written, snapshotBytes: message.state.byteLength });
      if (written) checkpoint();
      return;
    }
    const state = merge(message.packed, message.lengths);
    const own = state.byteOffset === 0 && state.byteLength === state.buffer.byteLength ? state : state.slice();
    parentPort.postMessage({ id, state: own }, [own.buffer]);
  } catch (error) {
    parentPort.postMessage({ id, error: String((error && error.message) || error) });
  }
});
`;

type Reply = {
  id: number;
  state?: Uint8Array;
  written?: boolean;
  snapshotBytes?: number;
  mergedUpdates?: number;
  mergedBytes?: number;
  error?: string;
};

/**
 * How long the thread stays after its last message. A thread with Yjs loaded
 * holds about 20 MB of RSS; a server whose rooms are quiet gives that back,
 * and one under steady load (a compaction or a checkpoint every few seconds)
 * keeps its thread.
 */
export const MERGE_WORKER_IDLE_MS = 30_000;

export interface MergeWorkerOptions {
  /** How long the thread stays after its last message, in ms. Default MERGE_WORKER_IDLE_MS. */
  idleMs?: number;
  /**
   * Bounds the thread's old generation (Node's `resourceLimits`): a merge that needs more fails and the
   * thread ends while the process goes on (a 40,000-message room under an 8 MB bound did). Not a
   * guarantee: one huge allocation past the bound can still abort the whole process, as the fold in one
   * transaction did under 128 MB. Default: V8's own limit.
   */
  maxHeapMb?: number;
  /**
   * The sync server's SQLite file. The thread then also writes compactions (`writeCompaction`) and runs
   * the WAL's checkpoints (`checkpoint`) on its own connection, so neither a compaction's large commit
   * nor a checkpoint's copy and fsyncs ever runs on the event loop.
   */
  sqliteLocation?: string;
  /** Test seam: every compaction's transaction fails after writing its snapshot, before deleting rows. */
  failAfterSnapshotWrite?: boolean;
}

/**
 * A worker thread for the room-sized work of this process's compactions, one
 * message at a time, in call order: merges, and on SQLite the compactions'
 * writes and the WAL's checkpoints. Started on the first message and ended
 * once none came for `idleMs`; it keeps the process alive only while a
 * message is outstanding. If the thread dies, what waits on it fails (a
 * compaction rolls back: nothing is lost) and the next message starts a new
 * thread.
 */
export class MergeWorker implements CompactionWriter {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, { resolve: (reply: Reply) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closed = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly idleMs: number;
  /** Threads asked to end (idle) that have not exited yet: close() waits for their connections too. */
  private readonly retiring = new Set<Promise<void>>();

  constructor(private readonly options: MergeWorkerOptions = {}) {
    this.idleMs = options.idleMs ?? MERGE_WORKER_IDLE_MS;
  }

  /** Whether a thread is up now (started by a message, not yet ended by idleness or close). */
  get threadRunning(): boolean {
    return this.worker !== null;
  }

  /** The merge as an UpdateMerger. */
  readonly merge: UpdateMerger = async (snapshot, updates) => {
    const reply = await this.send({ kind: 'merge' }, pack(snapshot, updates));
    return reply.state as Uint8Array;
  };

  async writeCompaction(write: CompactionWrite): Promise<{ snapshotBytes: number } | null> {
    if (!this.options.sqliteLocation) throw new Error('this merge worker has no database to write to');
    const { state, ...rest } = write;
    const reply = await this.send({ kind: 'compact', state, write: { ...rest, seqs: rest.seqs.map(Number) } });
    return reply.written ? { snapshotBytes: reply.snapshotBytes as number } : null;
  }

  async foldFromStorage(fold: StorageFold): Promise<CompactionResult | null> {
    if (!this.options.sqliteLocation) throw new Error('this merge worker has no database to read');
    const reply = await this.send({ kind: 'fold', ...fold });
    if (!reply.written) return null;
    return {
      mergedUpdates: reply.mergedUpdates as number,
      mergedBytes: reply.mergedBytes as number,
      snapshotBytes: reply.snapshotBytes as number,
    };
  }

  /** A PASSIVE checkpoint of the SQLite file's WAL, on the thread's connection. */
  async checkpoint(): Promise<void> {
    if (!this.options.sqliteLocation) throw new Error('this merge worker has no database to checkpoint');
    await this.send({ kind: 'checkpoint' });
  }

  private send(message: object, packed?: { packed: ArrayBuffer; lengths: number[] }): Promise<Reply> {
    if (this.closed) return Promise.reject(new Error('the merge worker is closed'));
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    const worker = this.thread();
    const id = ++this.nextId;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      if (packed) worker.postMessage({ id, ...message, ...packed }, [packed.packed]);
      else worker.postMessage({ id, ...message });
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const require = createRequire(import.meta.url);
    const { sqliteLocation, maxHeapMb, failAfterSnapshotWrite } = this.options;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Plain Node in the thread; a CPU profile asked of the process covers it too.
      execArgv: process.execArgv.filter((arg) => arg.startsWith('--cpu-prof')),
      workerData: {
        yjsPath: require.resolve('yjs'),
        rowsPerTransaction: ROWS_PER_TRANSACTION,
        sqlite: sqliteLocation ? { location: sqliteLocation, driverPath: require.resolve('better-sqlite3') } : null,
        failAfterSnapshotWrite: failAfterSnapshotWrite === true,
      },
      ...(maxHeapMb ? { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } } : {}),
    });
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) {
        worker.unref();
        this.retireWhenIdle(worker);
      }
      if (reply.error !== undefined) waiter.reject(new Error(`merge worker: ${reply.error}`));
      else waiter.resolve(reply);
    });
    const lost = (error: Error) => {
      // A thread retired or closed had nothing pending; what is pending now is a newer thread's.
      if (this.worker !== worker) return;
      this.worker = null;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    worker.on('error', (error) => lost(error));
    worker.on('exit', (code) => lost(new Error(`the merge worker exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private retireWhenIdle(worker: Worker): void {
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.worker !== worker || this.pending.size > 0) return;
      // Forgotten first, so the exit is not taken for a crash and the next message starts a new thread.
      this.worker = null;
      // Asked to end rather than terminated: its connection closes between two transactions.
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      this.retiring.add(exited);
      void exited.then(() => this.retiring.delete(exited));
      worker.postMessage({ close: true });
    }, this.idleMs);
    this.idleTimer.unref();
  }

  /** Ends the thread after what it is doing (its connection closed cleanly); what still waits fails. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const worker = this.worker;
    this.worker = null;
    if (worker) {
      worker.ref();
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ close: true });
      const timer = setTimeout(() => void worker.terminate(), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await Promise.all(this.retiring);
    for (const waiter of this.pending.values()) waiter.reject(new Error('the merge worker is closed'));
    this.pending.clear();
  }
}

/** The snapshot and rows back to back in one buffer, to transfer: the rows' own buffers may be slices of larger ones (pooled Buffers). */
function pack(snapshot: Uint8Array | null, updates: readonly Uint8Array[]): { packed: ArrayBuffer; lengths: number[] } {
  const parts = snapshot ? [snapshot, ...updates] : [...updates];
  const lengths = parts.map((part) => part.byteLength);
  const packed = new Uint8Array(lengths.reduce((sum, length) => sum + length, 0));
  let offset = 0;
  for (const part of parts) {
    packed.set(part, offset);
    offset += part.byteLength;
  }
  return { packed: packed.buffer, lengths };
}
