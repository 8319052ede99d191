import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import * as Y from 'yjs';

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

/**
 * The thread's whole program, plain CommonJS evaluated in the thread (as the
 * SQLite worker's), with the same `yjs` the server uses. One message in, one
 * out: `{ id, packed, lengths }` (every update back to back in one transferred
 * buffer) answered by `{ id, state }` (transferred) or `{ id, error }`.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Y = require(workerData.yjsPath);
parentPort.on('message', ({ id, packed, lengths }) => {
  const doc = new Y.Doc({ gc: true });
  try {
    const bytes = new Uint8Array(packed);
    let offset = 0;
    for (let i = 0; i < lengths.length; i += workerData.rowsPerTransaction) {
      doc.transact(() => {
        for (const length of lengths.slice(i, i + workerData.rowsPerTransaction)) {
          Y.applyUpdate(doc, bytes.subarray(offset, offset + length));
          offset += length;
        }
      });
    }
    const state = Y.encodeStateAsUpdate(doc);
    const own = state.byteOffset === 0 && state.byteLength === state.buffer.byteLength ? state : state.slice();
    parentPort.postMessage({ id, state: own }, [own.buffer]);
  } catch (error) {
    parentPort.postMessage({ id, error: String((error && error.message) || error) });
  } finally {
    doc.destroy();
  }
});
`;

type Reply = { id: number; state: Uint8Array; error?: undefined } | { id: number; error: string };

/**
 * How long the thread stays after its last merge. A thread with Yjs loaded
 * holds about 20 MB of RSS; a server whose rooms are quiet gives that back,
 * and one under steady load (a compaction every few seconds) keeps its thread.
 */
export const MERGE_WORKER_IDLE_MS = 30_000;

/**
 * A worker thread that merges for the compactions of this process, one merge
 * at a time, in call order. Started on the first merge and ended once no merge
 * came for `idleMs`; it keeps the process alive only while a merge is
 * outstanding. If the thread dies, the merges waiting on it fail (the
 * compaction rolls back: nothing is lost) and the next merge starts a new thread.
 */
export class MergeWorker {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, { resolve: (state: Uint8Array) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closed = false;
  private idleTimer: NodeJS.Timeout | null = null;

  /**
   * `maxHeapMb` bounds the thread's old generation (Node's `resourceLimits`): a merge that needs more
   * fails and the thread ends while the process goes on (a 40,000-message room under an 8 MB bound did).
   * Not a guarantee: one huge allocation past the bound can still abort the whole process, as the fold
   * in one transaction did under 128 MB. Default: V8's own limit.
   */
  constructor(
    private readonly idleMs = MERGE_WORKER_IDLE_MS,
    private readonly limits: { maxHeapMb?: number } = {},
  ) {}

  /** Whether a thread is up now (started by a merge, not yet ended by idleness or close). */
  get threadRunning(): boolean {
    return this.worker !== null;
  }

  /** The merge as an UpdateMerger. */
  readonly merge: UpdateMerger = (snapshot, updates) => {
    if (this.closed) return Promise.reject(new Error('the merge worker is closed'));
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    const parts = snapshot ? [snapshot, ...updates] : [...updates];
    const lengths = parts.map((part) => part.byteLength);
    // One buffer, transferred: the rows' own buffers may be slices of larger ones (pooled Buffers).
    const packed = new Uint8Array(lengths.reduce((sum, length) => sum + length, 0));
    let offset = 0;
    for (const part of parts) {
      packed.set(part, offset);
      offset += part.byteLength;
    }
    const worker = this.thread();
    const id = ++this.nextId;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, packed: packed.buffer, lengths }, [packed.buffer]);
    });
  };

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Plain Node in the thread; a CPU profile asked of the process covers it too.
      execArgv: process.execArgv.filter((arg) => arg.startsWith('--cpu-prof')),
      workerData: { yjsPath: createRequire(import.meta.url).resolve('yjs'), rowsPerTransaction: ROWS_PER_TRANSACTION },
      ...(this.limits.maxHeapMb ? { resourceLimits: { maxOldGenerationSizeMb: this.limits.maxHeapMb } } : {}),
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
      if (reply.error !== undefined) waiter.reject(new Error(`merge failed: ${reply.error}`));
      else waiter.resolve(reply.state);
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
      // Forgotten first, so the exit is not taken for a crash and the next merge starts a new thread.
      this.worker = null;
      void worker.terminate();
    }, this.idleMs);
    this.idleTimer.unref();
  }

  /** Ends the thread; merges still waiting fail. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
    for (const waiter of this.pending.values()) waiter.reject(new Error('the merge worker is closed'));
    this.pending.clear();
  }
}
