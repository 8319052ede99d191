import type { SqliteStats } from '@confab/platform';
import type { Hocuspocus } from '@hocuspocus/server';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

function getOrCreate<T>(registry: Registry, name: string, create: () => T): T {
  // The same registry may see the server started twice in one process (tests, all-in-one restarts).
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

interface Sources {
  hocuspocus?: Hocuspocus;
  outboxDepth?: () => Promise<number>;
  /** SQLite on a file only: the event loop's connection's counts. */
  sqlite?: (() => SqliteStats) | undefined;
}

/**
 * A counter that mirrors a count kept elsewhere: at each scrape it adds what the count grew by since
 * the last (`seen`, per label set). A count that went down is a new source (a restart in one process)
 * counting from 0 again.
 */
function mirror(
  counter: Counter<string>,
  seen: Map<string, number>,
  labels: Record<string, string>,
  read: () => number | undefined,
): void {
  const now = read();
  if (now === undefined) return;
  const key = JSON.stringify(labels);
  const before = seen.get(key) ?? 0;
  const grew = now >= before ? now - before : now;
  seen.set(key, now);
  if (grew > 0) counter.inc(labels, grew);
}

/** Per registry, so the gauges created once per registry read the server bound last (restarts in one process). */
const sourcesByRegistry = new WeakMap<Registry, Sources>();

/**
 * Accepted updates not yet added to `confab_sync_updates_total`, per registry. Every accepted update
 * counts one, and prom-client's `inc` builds and checks a label key on each call: the count is a
 * plain number here, added to the counter when it is read (its `collect`, at every scrape).
 */
const acceptedByRegistry = new WeakMap<Registry, { count: number }>();

/**
 * The sync server's Prometheus metrics. Gauges that mirror live state read it
 * at scrape time through `bind` instead of being kept in step by hand.
 */
export class SyncMetrics {
  readonly connections: Gauge;
  readonly documentsLoaded: Gauge;
  readonly updates: Counter<'result' | 'rule'>;
  readonly storeSeconds: Histogram;
  readonly compactions: Counter<'result'>;
  readonly outboxDepth: Gauge;
  readonly rateLimited: Counter<'scope'>;
  readonly sqliteBusyRetries: Counter;
  readonly sqliteCheckpoints: Counter<'by'>;
  private readonly registry: Registry;
  private readonly pendingAccepted: { count: number };

  constructor(registry: Registry) {
    this.registry = registry;
    const sources = (): Sources => sourcesByRegistry.get(registry) ?? {};
    const accepted = acceptedByRegistry.get(registry) ?? { count: 0 };
    acceptedByRegistry.set(registry, accepted);
    this.pendingAccepted = accepted;
    this.connections = getOrCreate(
      registry,
      'confab_sync_connections',
      () =>
        new Gauge({
          name: 'confab_sync_connections',
          help: 'Open WebSocket connections (documents opened through them are counted once per socket)',
          registers: [registry],
          collect() {
            const h = sources().hocuspocus;
            if (h) this.set(h.getConnectionsCount());
          },
        }),
    );
    this.documentsLoaded = getOrCreate(
      registry,
      'confab_sync_documents_loaded',
      () =>
        new Gauge({
          name: 'confab_sync_documents_loaded',
          help: 'Documents held in memory',
          registers: [registry],
          collect() {
            const h = sources().hocuspocus;
            if (h) this.set(h.getDocumentsCount());
          },
        }),
    );
    this.updates = getOrCreate(
      registry,
      'confab_sync_updates_total',
      () =>
        new Counter({
          name: 'confab_sync_updates_total',
          help: "Incoming updates by result (accepted, refused, deferred until the client syncs, failed, trimmed: a catch-up without other users' changes) and the guard rule behind it",
          labelNames: ['result', 'rule'] as const,
          registers: [registry],
          collect() {
            if (accepted.count === 0) return;
            this.inc({ result: 'accepted', rule: '' }, accepted.count);
            accepted.count = 0;
          },
        }),
    );
    this.storeSeconds = getOrCreate(
      registry,
      'confab_sync_store_seconds',
      () =>
        new Histogram({
          name: 'confab_sync_store_seconds',
          help: 'Time to append one update (and its events) to the update log, before it is acknowledged',
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
          registers: [registry],
        }),
    );
    this.compactions = getOrCreate(
      registry,
      'confab_sync_compactions_total',
      () =>
        new Counter({
          name: 'confab_sync_compactions_total',
          help: 'Update log compactions by result (done, skipped, failed)',
          labelNames: ['result'] as const,
          registers: [registry],
        }),
    );
    this.rateLimited = getOrCreate(
      registry,
      'confab_sync_rate_limited_total',
      () =>
        new Counter({
          name: 'confab_sync_rate_limited_total',
          help: 'Sockets closed with 4429 rate_limited, by the bucket that ran empty (connection or user)',
          labelNames: ['scope'] as const,
          registers: [registry],
        }),
    );
    this.sqliteBusyRetries = getOrCreate(registry, 'confab_sync_sqlite_busy_retries_total', () => {
      const seen = new Map<string, number>();
      return new Counter({
        name: 'confab_sync_sqlite_busy_retries_total',
        help: "SQLite: statements on the event loop's connection that found the write lock taken (by the merge thread's compaction) and tried again 1 ms later",
        registers: [registry],
        collect() {
          mirror(this, seen, {}, () => sources().sqlite?.().busyRetries);
        },
      });
    });
    this.sqliteCheckpoints = getOrCreate(registry, 'confab_sync_sqlite_checkpoints_total', () => {
      const seen = new Map<string, number>();
      return new Counter({
        name: 'confab_sync_sqlite_checkpoints_total',
        help: 'SQLite: WAL checkpoints asked of the merge thread (by="merge_thread"), and run on the event loop after that failed (by="event_loop")',
        labelNames: ['by'] as const,
        registers: [registry],
        collect() {
          mirror(this, seen, { by: 'merge_thread' }, () => sources().sqlite?.().checkpointsDelegated);
          mirror(this, seen, { by: 'event_loop' }, () => sources().sqlite?.().checkpointsOnLoop);
        },
      });
    });
    this.outboxDepth = getOrCreate(
      registry,
      'confab_sync_outbox_depth',
      () =>
        new Gauge({
          name: 'confab_sync_outbox_depth',
          help: 'Events derived from stored updates and not yet handed on by the bus',
          registers: [registry],
          async collect() {
            const depth = sources().outboxDepth;
            if (depth) this.set(await depth().catch(() => Number.NaN));
          },
        }),
    );
  }

  /** Counts one accepted update (see acceptedByRegistry). */
  accepted(): void {
    this.pendingAccepted.count++;
  }

  /** Points the scrape-time gauges at this server (the last started one wins in a shared registry). */
  bind(sources: Required<Omit<Sources, 'sqlite'>> & Pick<Sources, 'sqlite'>): void {
    sourcesByRegistry.set(this.registry, sources);
  }
}
