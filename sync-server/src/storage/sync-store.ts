import { randomUUID } from 'node:crypto';
import {
  type BusEvent,
  type Database,
  groupCommit,
  InsertCompiler,
  onePerTable,
  PG_MAX_PARAMETERS,
  PgArrayInsert,
  pgSingleStatement,
  type RowInserts,
  sqliteBatch,
  type TransactionalPublish,
} from '@confab/platform';
import { type CompiledQuery, type Kysely, sql, type Transaction } from 'kysely';
import * as Y from 'yjs';
import { type CompactionWrite, type CompactionWriter, mergeInline, type UpdateMerger } from './merge-worker';
import type { SyncTables } from './schema';

/** A bus event waiting in `sync_pending_events` until the bus has stored it. */
export interface PendingEvent {
  readonly subject: string;
  readonly event: BusEvent;
}

export interface StoredDocument {
  /** The merged state of every compacted update, or null before the first compaction. */
  readonly snapshot: Uint8Array | null;
  /** Log rows not yet folded into the snapshot, oldest first. */
  readonly updates: readonly Uint8Array[];
  readonly snapshotBytes: number;
  readonly logBytes: number;
  /** Ids of the document's messages deleted so far (`sync_retired_messages`): never to be used again. */
  readonly retiredMessageIds: readonly string[];
}

/**
 * A loaded document a compaction may take its snapshot from, instead of
 * rebuilding the room from the stored snapshot and log. The caller promises
 * that it holds every row of the document's log: the rows there when it was
 * loaded, and every row appended since, which was applied to it before its
 * append (Persistence makes a load wait for the appends of an earlier load of
 * the room still in flight). The compaction then reads only the rows' numbers
 * and sizes and encodes the document, instead of reading every row back and
 * applying it again (a room-sized block of the event loop: about 20 ms at
 * 256 KiB of log). What it holds beyond the rows (updates applied but not yet
 * committed) is a superset the snapshot may carry: it passed the guard, and
 * its author sends it again until acknowledged.
 */
export interface LiveDocument {
  readonly doc: Y.Doc;
}

export interface CompactionResult {
  readonly mergedUpdates: number;
  readonly mergedBytes: number;
  readonly snapshotBytes: number;
}

/**
 * The persistence port of the sync server. Every accepted update is appended
 * (with the events it implies) before it is acknowledged; a document is its
 * snapshot plus the log rows after it. The shared contract suite
 * (sync-store.contract.ts) runs against SQLite and PostgreSQL.
 */
export interface SyncStore {
  /** True when `append` publishes the events itself, in its own transaction: there is nothing to relay. */
  readonly publishesOnAppend: boolean;
  load(document: string): Promise<StoredDocument>;
  /**
   * Durable when it resolves: the row, its events and the ids of the messages it deleted
   * (`retiredMessageIds`) are committed in one transaction.
   */
  append(
    document: string,
    update: Uint8Array,
    events?: readonly PendingEvent[],
    retiredMessageIds?: readonly string[],
  ): Promise<void>;
  /**
   * Folds the document's log into a new snapshot; null when there was nothing to fold or another compaction won.
   * `live` gives the document as this process holds it (null when it is not loaded): see LiveDocument.
   */
  compact(document: string, live?: () => LiveDocument | null): Promise<CompactionResult | null>;
  /** Oldest first; `createdBeforeMs` leaves out events an append has only just written (their relay is in flight). */
  pendingEvents(limit: number, createdBeforeMs?: number): Promise<Array<PendingEvent & { readonly id: string }>>;
  deletePendingEvents(ids: readonly string[]): Promise<void>;
  countPendingEvents(): Promise<number>;
  /** Deletes the document's snapshot, log and retired ids, in one transaction (a deleted room or account). */
  deleteDocument(document: string): Promise<void>;
}

export interface KyselySyncStoreOptions {
  database: Database<unknown>;
  clock?: () => number;
  /** Test seam: runs inside the compaction transaction after the snapshot write, before the log rows are deleted. */
  afterSnapshotWrite?: (document: string) => void | Promise<void>;
  /** Test seam: runs after the compaction has read and merged, before its write transaction. */
  beforeCompactionWrite?: (document: string) => void | Promise<void>;
  /**
   * Test seam: runs inside an append transaction after its rows are written, before the commit, with the
   * documents of its rows in call order. A lone append without events needs no transaction and skips it.
   */
  beforeAppendCommit?: (documents: readonly string[]) => void | Promise<void>;
  /** Most writes (appends, event deletions) one transaction takes. Default 500. */
  maxBatchUpdates?: number;
  /** Most update bytes one transaction takes (a single larger update still goes alone). Default 4 MiB. */
  maxBatchBytes?: number;
  /**
   * While appends keep arriving during commits, commits start at most this often (ms): the appends
   * of the interval share one. An append after a quiet spell commits at once. Default 12.
   */
  minCommitIntervalMs?: number;
  /**
   * The bus, when it can publish inside this store's transactions (the in-process bus on the same
   * database): events then go straight into the bus's log in the append's transaction, and
   * `sync_pending_events` and its relay are not used. Ignored for a bus on another database.
   */
  bus?: { readonly transactional?: TransactionalPublish | undefined };
  /**
   * How a compaction that reads the room from storage folds its snapshot and log (the room-sized Yjs
   * work). Default: on the calling thread; the sync server passes a MergeWorker's, off the event loop.
   */
  merge?: UpdateMerger;
  /**
   * Who writes a compaction (its snapshot and the deletion of the rows it folded). Default: this store's
   * connection. On SQLite the sync server passes its MergeWorker, whose thread has its own connection: a
   * compaction's commit (a room-sized row, hundreds of deletions, an fsync) then never runs on the event
   * loop, and a compaction read from storage is read, merged and written there (`foldFromStorage`).
   * `afterSnapshotWrite` cannot reach into it (the MergeWorker has its own seam).
   */
  compactionWriter?: CompactionWriter;
}

/** A write waiting for the next group-commit transaction. */
type QueuedWrite =
  | {
      readonly kind: 'append';
      readonly document: string;
      readonly update: Uint8Array;
      readonly events: readonly PendingEvent[];
      readonly retired: readonly string[];
    }
  | { readonly kind: 'delete-events'; readonly ids: readonly string[] };

const DELETE_CHUNK = 500;
/** Rows per multi-row insert of pending events (5 parameters each, well under SQLite's and PostgreSQL's limits). */
const EVENT_INSERT_CHUNK = 1_000;
const DEFAULT_MAX_BATCH_UPDATES = 500;
const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024;
/**
 * At 800 updates/s (rooms of 50 at 40,000 deliveries/s) a commit started for nearly every update:
 * each its fsync, its ~12 page writes and (then) a round trip to the SQLite thread, which took CPU from the
 * event loop on a 2-core machine. At most one commit per 4 ms cut that; one per 12 ms cut the server's
 * CPU per delivery by another ~10% (rooms of 10 at 20,000 deliveries/s, 16 interleaved steps; 25 ms
 * did no better). Under such a stream an acknowledgement waits up to 12 ms more; relaying never waits.
 */
const DEFAULT_MIN_COMMIT_INTERVAL_MS = 12;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A row of `sync_updates` as appended (seq is the database's). */
interface LogRow {
  document: string;
  update: Buffer;
  bytes: number;
  created_at: number;
}

const LOG_COLUMNS = [
  ['document', 'text'],
  ['update', 'bytea'],
  ['bytes', 'integer'],
  ['created_at', 'bigint'],
] as const satisfies ReadonlyArray<readonly [keyof LogRow, string]>;

/** A statement of a group commit: compiled, or run by a bus on the transaction (PostgreSQL's takes a lock first). */
type WriteStep = CompiledQuery | ((trx: Transaction<SyncTables>) => Promise<void>);

function isCompiled(step: WriteStep): step is CompiledQuery {
  return typeof step !== 'function';
}

/** A row of `sync_pending_events` as written. */
interface PendingRow {
  id: string;
  document: string;
  subject: string;
  payload: string;
  created_at: number;
}

const OUTBOX_COLUMNS = [
  ['id', 'text'],
  ['document', 'text'],
  ['subject', 'text'],
  ['payload', 'text'],
  ['created_at', 'bigint'],
] as const satisfies ReadonlyArray<readonly [keyof PendingRow, string]>;

/** Outbox rows of events, for `sync_pending_events`. */
function pendingRows(events: ReadonlyArray<PendingEvent & { document: string }>, now: number): PendingRow[] {
  return events.map((e) => ({
    id: e.event.id,
    document: e.document,
    subject: e.subject,
    payload: JSON.stringify(e.event),
    created_at: now,
  }));
}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new TypeError(`expected binary column, got ${typeof value}`);
}

export class KyselySyncStore implements SyncStore {
  private readonly db: Kysely<SyncTables>;
  private readonly kind: Database<unknown>['kind'];
  private readonly clock: () => number;
  private readonly afterSnapshotWrite: KyselySyncStoreOptions['afterSnapshotWrite'];
  private readonly beforeCompactionWrite: KyselySyncStoreOptions['beforeCompactionWrite'];
  private readonly beforeAppendCommit: KyselySyncStoreOptions['beforeAppendCommit'];
  private readonly enqueue: (item: QueuedWrite) => Promise<void>;
  private readonly enqueueDeletion: (item: QueuedWrite) => Promise<void>;
  private readonly bus: TransactionalPublish | null;
  private readonly merge: UpdateMerger;
  private readonly compactionWriter: CompactionWriter | null;
  readonly publishesOnAppend: boolean;
  /** The log rows' insert: on SQLite compiled once per row count (InsertCompiler), on PostgreSQL one for any (PgArrayInsert). */
  private readonly logInserts: RowInserts<LogRow>;
  /** The same for the store's own outbox (a bus that cannot join the append's transaction). */
  private readonly outboxInserts: RowInserts<PendingRow>;

  constructor(options: KyselySyncStoreOptions) {
    this.db = options.database.db as unknown as Kysely<SyncTables>;
    const transactional = options.bus?.transactional;
    this.bus = transactional && transactional.kysely === options.database.db ? transactional : null;
    this.publishesOnAppend = this.bus !== null;
    this.kind = options.database.kind;
    if (this.kind === 'postgres') {
      this.logInserts = new PgArrayInsert('sync_updates', LOG_COLUMNS);
      this.outboxInserts = new PgArrayInsert('sync_pending_events', OUTBOX_COLUMNS);
    } else {
      this.logInserts = new InsertCompiler(
        LOG_COLUMNS.map(([name]) => name),
        (rows) => this.db.insertInto('sync_updates').values(rows),
      );
      this.outboxInserts = new InsertCompiler(
        OUTBOX_COLUMNS.map(([name]) => name),
        (rows) => this.db.insertInto('sync_pending_events').values(rows),
      );
    }
    this.clock = options.clock ?? Date.now;
    this.afterSnapshotWrite = options.afterSnapshotWrite;
    this.beforeCompactionWrite = options.beforeCompactionWrite;
    this.beforeAppendCommit = options.beforeAppendCommit;
    this.merge = options.merge ?? mergeInline;
    this.compactionWriter = options.compactionWriter ?? null;
    if (this.compactionWriter && this.afterSnapshotWrite) {
      throw new Error('afterSnapshotWrite runs in the store’s own compaction transaction, not a compactionWriter’s');
    }
    // Group commit: appends (of any document) arriving while a transaction is in flight are
    // written together by the next one. A commit costs an fsync (SQLite: the WAL's fdatasync, ~1.4 ms)
    // or a round trip and WAL flush (PostgreSQL), so one commit per update capped the whole
    // server at a few hundred updates/s; now concurrent rooms share it. The relay's deletions of
    // published events are group-committed too: one each would cost a commit per message again.
    this.enqueue = groupCommit<QueuedWrite>((batch) => this.writeBatch(batch), {
      maxItems: options.maxBatchUpdates ?? DEFAULT_MAX_BATCH_UPDATES,
      maxWeight: options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES,
      weigh: (item) => (item.kind === 'append' ? item.update.byteLength : 0),
      // Gather the appends of the current turn (many sockets' messages read in one poll) before
      // the first write goes out, rather than sending the first alone.
      collectUntilNextTurn: true,
      // Under a stream of appends, one commit per interval rather than one per append or two.
      minIntervalMs: options.minCommitIntervalMs ?? DEFAULT_MIN_COMMIT_INTERVAL_MS,
    });
    // SQLite has one writer: a deletion sharing the append's fsync is free. PostgreSQL commits
    // transactions of different connections in parallel, so there deletions get their own queue
    // and never make an append wait for them (measured: a lone room appended ~20% slower otherwise).
    this.enqueueDeletion =
      this.kind === 'postgres'
        ? groupCommit<QueuedWrite>((batch) => this.writeBatch(batch), { maxItems: DEFAULT_MAX_BATCH_UPDATES })
        : this.enqueue;
  }

  async load(document: string): Promise<StoredDocument> {
    // Snapshot and log must come from one point in time: a compaction committing
    // between the two reads would otherwise hide the rows it folded.
    const read = async (trx: Transaction<SyncTables>) => {
      const snapshot = await trx
        .selectFrom('sync_snapshots')
        .select(['state', 'bytes'])
        .where('document', '=', document)
        .executeTakeFirst();
      const rows = await trx
        .selectFrom('sync_updates')
        .select(['update', 'bytes'])
        .where('document', '=', document)
        .orderBy('seq')
        .execute();
      const retired = await trx
        .selectFrom('sync_retired_messages')
        .select('message_id')
        .where('document', '=', document)
        .execute();
      return {
        snapshot: snapshot ? toBytes(snapshot.state) : null,
        updates: rows.map((r) => toBytes(r.update)),
        snapshotBytes: snapshot ? Number(snapshot.bytes) : 0,
        logBytes: rows.reduce((sum, r) => sum + Number(r.bytes), 0),
        retiredMessageIds: retired.map((r) => r.message_id),
      };
    };
    return this.kind === 'postgres'
      ? this.db.transaction().setIsolationLevel('repeatable read').execute(read)
      : this.db.transaction().execute(read);
  }

  /**
   * Resolves once the transaction holding this update (and its events) has committed; rejects if it
   * failed, and then no append of that transaction is stored. Per document, log rows (seq) keep the
   * order of the calls: the queue is FIFO, batches commit one after another, and a batch is one
   * multi-row insert in queue order.
   */
  append(
    document: string,
    update: Uint8Array,
    events: readonly PendingEvent[] = [],
    retiredMessageIds: readonly string[] = [],
  ): Promise<void> {
    return this.enqueue({ kind: 'append', document, update, events, retired: retiredMessageIds });
  }

  private async writeBatch(batch: readonly QueuedWrite[]): Promise<void> {
    const now = this.clock();
    const appends = batch.filter((w) => w.kind === 'append');
    // Deletions only ever name events whose append has already committed (the relay publishes
    // after it), so they never meet a row of the same batch and their order against appends is free.
    const deletedIds = batch.flatMap((w) => (w.kind === 'delete-events' ? w.ids : []));
    const rows = appends.map((a) => ({
      document: a.document,
      update: toBuffer(a.update),
      bytes: a.update.byteLength,
      created_at: now,
    }));
    const bus = this.bus;
    const events = appends.flatMap((a) => a.events.map((e) => ({ document: a.document, ...e })));
    // Once each: two appends of one batch may name the same id (an update and its resend).
    const retired = [
      ...new Map(
        appends.flatMap((a) =>
          a.retired.map((id) => [`${a.document}\n${id}`, { document: a.document, message_id: id }]),
        ),
      ).values(),
    ];
    // One statement commits atomically on its own; skipping BEGIN/COMMIT saves a round trip.
    if (rows.length === 1 && events.length === 0 && deletedIds.length === 0 && retired.length === 0) {
      const [insert] = this.logInserts.compile(rows);
      await this.db.executeQuery(insert!);
      return;
    }
    if (rows.length === 0 && deletedIds.length <= DELETE_CHUNK) {
      await this.db.deleteFrom('sync_pending_events').where('id', 'in', deletedIds).execute();
      return;
    }
    const steps = this.writeSteps(rows, events, deletedIds, retired, now);
    const compiled = !this.beforeAppendCommit && steps.every(isCompiled) ? steps.filter(isCompiled) : null;
    if (compiled && this.kind === 'sqlite') {
      // One transaction in one call, answered once the commit is on disk.
      await this.db.executeQuery(sqliteBatch(compiled));
    } else if (
      compiled &&
      this.kind === 'postgres' &&
      onePerTable(compiled) &&
      compiled.reduce((n, q) => n + q.parameters.length, 0) <= PG_MAX_PARAMETERS
    ) {
      // PostgreSQL: one statement, atomic alone, in one round trip (the log rows and the bus's events, an
      // insert of arrays each). Two writes to one table (over EVENT_INSERT_CHUNK events) need a transaction.
      await this.db.executeQuery(pgSingleStatement(compiled));
    } else {
      await this.db.transaction().execute(async (trx) => {
        for (const step of steps) {
          if (isCompiled(step)) await trx.executeQuery(step);
          else await step(trx);
        }
        if (appends.length > 0) await this.beforeAppendCommit?.(appends.map((a) => a.document));
      });
    }
    if (bus) bus.committed([...new Set(appends.flatMap((a) => a.events.map((e) => e.subject)))]);
  }

  /** The statements of one group commit, in order: compiled, or (a bus that must run its own) a step on the transaction. */
  private writeSteps(
    rows: readonly LogRow[],
    events: ReadonlyArray<PendingEvent & { document: string }>,
    deletedIds: readonly string[],
    retired: ReadonlyArray<{ document: string; message_id: string }>,
    now: number,
  ): WriteStep[] {
    const bus = this.bus;
    const steps: WriteStep[] = [];
    steps.push(...this.logInserts.compile(rows));
    for (let i = 0; i < events.length; i += EVENT_INSERT_CHUNK) {
      const chunk = events.slice(i, i + EVENT_INSERT_CHUNK);
      // Straight into the bus's log when it can join this transaction, else into the store's own outbox.
      if (bus?.compileInsert) steps.push(...bus.compileInsert(chunk));
      else if (bus) steps.push((trx) => bus.insert(trx, chunk));
      else steps.push(...this.outboxInserts.compile(pendingRows(chunk, now)));
    }
    // Rare (a deletion), and one statement per chunk: PostgreSQL's one-statement commit still applies.
    for (let i = 0; i < retired.length; i += DELETE_CHUNK) {
      steps.push(
        this.db
          .insertInto('sync_retired_messages')
          .values(retired.slice(i, i + DELETE_CHUNK))
          .onConflict((oc) => oc.doNothing())
          .compile(),
      );
    }
    for (let i = 0; i < deletedIds.length; i += DELETE_CHUNK) {
      steps.push(
        this.db
          .deleteFrom('sync_pending_events')
          .where('id', 'in', deletedIds.slice(i, i + DELETE_CHUNK))
          .compile(),
      );
    }
    return steps;
  }

  async compact(document: string, live?: () => LiveDocument | null): Promise<CompactionResult | null> {
    // Read and merge outside the write transaction so the (room-sized) Yjs work
    // does not hold the database; the write then commits only if the snapshot
    // is still the one merged into, and deletes exactly the rows merged, so a
    // row committed concurrently is never lost.
    // A Y.Doc with gc on drops the content of deleted items, so a deleted
    // message's text is gone from storage once its log row is folded.
    const usable = (loaded: LiveDocument | null | undefined) =>
      loaded && !loaded.doc.isDestroyed && loaded.doc.gc ? loaded.doc : null;
    // A writer that reads the room itself merges and writes it there: the event loop reads none of it (a
    // 1.2 MB snapshot took it 3-6 ms to read here). The test seam between read and write needs the steps below.
    const writer = this.compactionWriter;
    const foldInWriter =
      writer && !this.beforeCompactionWrite
        ? () => writer.foldFromStorage({ document, generation: randomUUID(), now: this.clock() })
        : null;
    if (foldInWriter && !usable(live?.())) return foldInWriter();
    const current = await this.db
      .selectFrom('sync_snapshots')
      .select('generation')
      .where('document', '=', document)
      .executeTakeFirst();
    const fromLoaded = usable(live?.());
    let state: Uint8Array;
    let rows: ReadonlyArray<{ seq: number | string; bytes: number }>;
    if (fromLoaded) {
      // It holds every row (see LiveDocument): only which rows to fold is read.
      rows = await this.db
        .selectFrom('sync_updates')
        .select(['seq', 'bytes'])
        .where('document', '=', document)
        .orderBy('seq')
        .execute();
      if (rows.length === 0) return null;
      state = Y.encodeStateAsUpdate(fromLoaded);
    } else if (foldInWriter) {
      // Unloaded since the check above.
      return foldInWriter();
    } else {
      const stored = await this.db
        .selectFrom('sync_updates')
        .select(['seq', 'update', 'bytes'])
        .where('document', '=', document)
        .orderBy('seq')
        .execute();
      if (stored.length === 0) return null;
      const snapshot = await this.db
        .selectFrom('sync_snapshots')
        .select(['state', 'generation'])
        .where('document', '=', document)
        .executeTakeFirst();
      // Folded by a compaction elsewhere meanwhile: its snapshot holds rows ours no longer sees; let it win.
      if ((snapshot?.generation ?? null) !== (current?.generation ?? null)) return null;
      state = await this.merge(
        snapshot ? toBytes(snapshot.state) : null,
        stored.map((row) => toBytes(row.update)),
      );
      rows = stored;
    }
    const plan = {
      document,
      expectedGeneration: current?.generation ?? null,
      generation: randomUUID(),
      now: this.clock(),
      seqs: rows.map((r) => r.seq),
    };
    await this.beforeCompactionWrite?.(document);
    const written = this.compactionWriter
      ? await this.compactionWriter.writeCompaction({ ...plan, state })
      : await this.writeCompaction(plan, state);
    if (!written) return null;
    return {
      mergedUpdates: rows.length,
      mergedBytes: rows.reduce((sum, r) => sum + Number(r.bytes), 0),
      snapshotBytes: written.snapshotBytes,
    };
  }

  /** A compaction's write on this store's connection: see CompactionWriter. */
  private writeCompaction(
    plan: Omit<CompactionWrite, 'state'>,
    state: Uint8Array,
  ): Promise<{ snapshotBytes: number } | null> {
    const { document, generation, now, seqs } = plan;
    return this.db.transaction().execute(async (trx) => {
      if (this.kind === 'postgres') {
        // Serialises compactions of one document across instances for the rest of this transaction.
        await sql`select pg_advisory_xact_lock(hashtext(${document}))`.execute(trx);
      }
      const stored = await trx
        .selectFrom('sync_snapshots')
        .select('generation')
        .where('document', '=', document)
        .executeTakeFirst();
      if ((stored?.generation ?? null) !== plan.expectedGeneration) return null;
      await trx
        .insertInto('sync_snapshots')
        .values({ document, state: toBuffer(state), bytes: state.byteLength, generation, updated_at: now })
        .onConflict((oc) =>
          oc
            .column('document')
            .doUpdateSet({ state: toBuffer(state), bytes: state.byteLength, generation, updated_at: now }),
        )
        .execute();
      await this.afterSnapshotWrite?.(document);
      for (let i = 0; i < seqs.length; i += DELETE_CHUNK) {
        await trx
          .deleteFrom('sync_updates')
          .where('seq', 'in', seqs.slice(i, i + DELETE_CHUNK))
          .execute();
      }
      return { snapshotBytes: state.byteLength };
    });
  }

  async deleteDocument(document: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('sync_updates').where('document', '=', document).execute();
      await trx.deleteFrom('sync_snapshots').where('document', '=', document).execute();
      await trx.deleteFrom('sync_retired_messages').where('document', '=', document).execute();
    });
  }

  async pendingEvents(limit: number, createdBeforeMs?: number): Promise<Array<PendingEvent & { readonly id: string }>> {
    let query = this.db.selectFrom('sync_pending_events').select(['id', 'subject', 'payload']);
    if (createdBeforeMs !== undefined) query = query.where('created_at', '<', createdBeforeMs);
    const rows = await query.orderBy('created_at').orderBy('id').limit(limit).execute();
    return rows.map((r) => ({ id: r.id, subject: r.subject, event: JSON.parse(r.payload) as BusEvent }));
  }

  /** Group-committed too (with the appends on SQLite): the relay deletes one event per message. */
  async deletePendingEvents(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.enqueueDeletion({ kind: 'delete-events', ids: [...ids] });
  }

  async countPendingEvents(): Promise<number> {
    const row = await this.db
      .selectFrom('sync_pending_events')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
