import { CLOSE } from '@confab/protocol';
import type { afterUnloadDocumentPayload, Extension, onLoadDocumentPayload } from '@hocuspocus/server';
import type { Logger } from 'pino';
import * as Y from 'yjs';
import { applyRows } from '../storage/merge-worker';
import type { PendingEvent, SyncStore } from '../storage/sync-store';
import { CloseError } from './context';
import type { SyncMetrics } from './metrics';
import { runSliced } from './time-slice';

/** After a deletion, fold the log soon so the deleted text leaves storage (CONTRACT: "removes the text for good"). */
const COMPACT_AFTER_DELETE_MS = 2_000;

interface Ledger {
  logBytes: number;
  snapshotBytes: number;
}

/** Compaction pays room-size work once the log has grown by at least the snapshot's size, so the amortised bytes written per message stay about the message's size. */
export function shouldCompact(ledger: Ledger, minBytes: number): boolean {
  return ledger.logBytes >= Math.max(minBytes, ledger.snapshotBytes);
}

export interface PersistenceOptions {
  store: SyncStore;
  logger: Logger;
  metrics: SyncMetrics;
  compactMinBytes: number;
  /**
   * Work to do on a document once its state is in, before anyone can use it (the guard's index), as
   * steps; given the ids of the document's messages deleted so far, which its state no longer holds.
   */
  prepare?: (document: Y.Doc, documentName: string, retiredMessageIds: readonly string[]) => Iterable<void>;
  /** A load gives other rooms a turn after about this much work. Default 10 ms. */
  loadSliceMs?: number;
  /**
   * Take a compaction's snapshot from the loaded document instead of rebuilding the room from storage
   * (LiveDocument). Only when this instance is the room's only writer: with several instances a loaded
   * document may lack a row another one wrote and already folded (Redis pub/sub delivers late, or not at
   * all across a reconnect), and a snapshot taken from it would drop that row.
   */
  compactFromLoadedDocument?: boolean;
  /**
   * With compactFromLoadedDocument, only rooms up to this many bytes (snapshot + log) are encoded from
   * the loaded document; a larger one is folded from storage by the store's merge (the sync server's
   * runs in a worker thread), so no compaction holds the event loop for long: encoding a room takes
   * about 12 ms per MiB here, which every room of the process waits out. Default: no bound.
   */
  liveCompactionMaxBytes?: number;
}

/**
 * Durable storage for Hocuspocus documents without its debounced store:
 * a document loads as snapshot + log, and every accepted update is appended
 * (by the update pipeline, through `append`) before it is acknowledged.
 * Compaction runs in the background, one at a time in the process.
 */
export class Persistence implements Extension {
  readonly extensionName = 'confab-persistence';
  private readonly ledgers = new Map<string, Ledger>();
  /** Appends not yet committed, per document: for drain(), and for a load of the document to wait for. */
  private readonly appending = new Map<string, Set<Promise<void>>>();
  /**
   * The last compaction asked for. Compactions run one at a time in the process, in the order asked:
   * rooms that grow alike cross the threshold together (the fan-out benchmark's ten rooms did, within
   * a second), and each compaction holds the event loop for its encode (or its reads and writes) and
   * the database's writer for the snapshot; one after another, other rooms get turns in between.
   */
  private compactionTail: Promise<void> = Promise.resolve();
  private readonly compactTimers = new Map<string, NodeJS.Timeout>();
  /** Documents whose log passed the threshold, with a compaction queued that has not started yet. */
  private readonly due = new Set<string>();
  /** Documents as loaded by this instance, for compactions (compactFromLoadedDocument). */
  private readonly loaded = new Map<string, Y.Doc>();
  private stopped = false;

  constructor(private readonly options: PersistenceOptions) {}

  async onLoadDocument({ document, documentName }: onLoadDocumentPayload): Promise<void> {
    const { store, logger } = this.options;
    try {
      // Appends of an earlier load of this room may still be committing (its last connection closed, the
      // document unloaded, and a client came back at once): the load reads the log after them, so the
      // document holds every row of its log, which compaction from the loaded document relies on.
      const earlier = this.appending.get(documentName);
      if (earlier) await Promise.allSettled([...earlier]);
      const stored = await store.load(documentName);
      // Nobody else sees the document until this hook resolves (Hocuspocus registers it, and Redis starts
      // applying to it, only afterwards), so the load can give other rooms turns between its pieces: the
      // snapshot (one Yjs apply, which cannot be split), the log in slices, then the guard's index in slices.
      const sliceMs = this.options.loadSliceMs ?? 10;
      if (stored.snapshot) Y.applyUpdate(document, stored.snapshot);
      await runSliced(applyRows(document, stored.updates), sliceMs);
      if (this.options.prepare) {
        await runSliced(this.options.prepare(document, documentName, stored.retiredMessageIds), sliceMs);
      }
      this.ledgers.set(documentName, { logBytes: stored.logBytes, snapshotBytes: stored.snapshotBytes });
      this.loaded.set(documentName, document);
      this.compactIfDue(documentName);
    } catch (error) {
      // Throwing makes Hocuspocus drop the half-built document and refuse the
      // connection; an empty document must never be served and later stored
      // over the real one (Hocuspocus issue 382).
      logger.error({ err: error, documentName }, 'document failed to load; refusing connections to it');
      throw new CloseError(CLOSE.tryAgainLater, 'document failed to load');
    }
  }

  async afterUnloadDocument({ documentName, instance }: afterUnloadDocumentPayload): Promise<void> {
    if (instance.documents.has(documentName)) return; // reloaded meanwhile
    this.ledgers.delete(documentName);
    this.loaded.delete(documentName);
  }

  /**
   * Deletes the document's storage (a deleted room or account), once the appends already in flight
   * for it have settled and any compaction queued before has run, so neither lands after the delete.
   * Its connections are closed first (by the caller), so no new append follows.
   */
  async deleteDocument(documentName: string): Promise<void> {
    const timer = this.compactTimers.get(documentName);
    if (timer) clearTimeout(timer);
    this.compactTimers.delete(documentName);
    const inFlight = this.appending.get(documentName);
    if (inFlight) await Promise.allSettled([...inFlight]);
    await this.compactionTail;
    await this.options.store.deleteDocument(documentName);
    this.ledgers.delete(documentName);
  }

  /**
   * Appends one accepted update, the events it implies and the ids of the messages it deleted.
   * Durable when it resolves.
   */
  async append(
    documentName: string,
    update: Uint8Array,
    events: readonly PendingEvent[],
    retiredMessageIds: readonly string[] = [],
  ): Promise<void> {
    // Not the histogram's startTimer: its closures and label copies, per update, cost more than the timing.
    const started = performance.now();
    const stored = this.options.store.append(documentName, update, events, retiredMessageIds);
    let inFlight = this.appending.get(documentName);
    if (!inFlight) {
      inFlight = new Set();
      this.appending.set(documentName, inFlight);
    }
    inFlight.add(stored);
    try {
      await stored;
    } finally {
      inFlight.delete(stored);
      if (inFlight.size === 0 && this.appending.get(documentName) === inFlight) this.appending.delete(documentName);
      this.options.metrics.storeSeconds.observe((performance.now() - started) / 1000);
    }
    const ledger = this.ledgers.get(documentName) ?? { logBytes: 0, snapshotBytes: 0 };
    ledger.logBytes += update.byteLength;
    this.ledgers.set(documentName, ledger);
    this.compactIfDue(documentName);
  }

  /**
   * Queues a compaction when the log has passed the threshold, behind any compaction of the document
   * already running, and checks the threshold again when its turn comes. While a compaction runs, the
   * ledger still counts the rows it is folding, so every append then looks due; without the second
   * check each compaction of a busy room was followed by one that folded the few rows appended
   * meanwhile and rewrote the whole snapshot for them (seen by hand: 5 rows, a 2 MB snapshot).
   */
  private compactIfDue(documentName: string): void {
    const ledger = this.ledgers.get(documentName);
    if (this.stopped || this.due.has(documentName) || !ledger) return;
    if (!shouldCompact(ledger, this.options.compactMinBytes)) return;
    this.due.add(documentName);
    void this.compactNow(documentName, () => {
      this.due.delete(documentName);
      const now = this.ledgers.get(documentName);
      return now !== undefined && shouldCompact(now, this.options.compactMinBytes);
    });
  }

  /** Schedules a compaction of the document (coalescing requests); `delayMs` 0 means on the next turn. */
  compactSoon(documentName: string, delayMs = COMPACT_AFTER_DELETE_MS): void {
    if (this.stopped || this.compactTimers.has(documentName)) return;
    const timer = setTimeout(() => {
      this.compactTimers.delete(documentName);
      void this.compactNow(documentName);
    }, delayMs);
    timer.unref();
    this.compactTimers.set(documentName, timer);
  }

  /**
   * Compacts once the compactions asked for before have run (see compactionTail); `stillWanted`,
   * asked when that turn comes, can call it off.
   */
  compactNow(documentName: string, stillWanted: () => boolean = () => true): Promise<void> {
    const run = this.compactionTail.then(async () => {
      const { store, metrics, logger } = this.options;
      if (!stillWanted()) return;
      try {
        const size = this.ledgers.get(documentName);
        const small =
          size !== undefined &&
          size.snapshotBytes + size.logBytes <= (this.options.liveCompactionMaxBytes ?? Number.POSITIVE_INFINITY);
        const live =
          this.options.compactFromLoadedDocument && small
            ? () => {
                const doc = this.loaded.get(documentName);
                return doc ? { doc } : null;
              }
            : undefined;
        const result = await store.compact(documentName, live);
        if (!result) {
          metrics.compactions.inc({ result: 'skipped' });
          return;
        }
        metrics.compactions.inc({ result: 'done' });
        const ledger = this.ledgers.get(documentName);
        if (ledger) {
          ledger.logBytes = Math.max(0, ledger.logBytes - result.mergedBytes);
          ledger.snapshotBytes = result.snapshotBytes;
        }
        logger.debug({ documentName, from: live ? 'loaded document' : 'storage', ...result }, 'update log compacted');
      } catch (error) {
        // The transaction rolled back: the log is intact, the next threshold crossing retries.
        metrics.compactions.inc({ result: 'failed' });
        logger.warn({ err: error, documentName }, 'compaction failed; the log is intact');
      }
    });
    this.compactionTail = run;
    return run;
  }

  /** Waits for appends in flight and running compactions; starts no new ones. */
  async drain(): Promise<void> {
    this.stopped = true;
    for (const timer of this.compactTimers.values()) clearTimeout(timer);
    this.compactTimers.clear();
    const appends = [...this.appending.values()].flatMap((inFlight) => [...inFlight]);
    await Promise.allSettled([...appends, this.compactionTail]);
  }
}
