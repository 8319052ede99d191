import { createInProcessBus, type EventBus, openDatabase } from '@confab/platform';
import { loadSyncConfig, startSyncServer, type UpdateGuard } from '@confab/sync-server';
import * as jose from 'jose';
import pino from 'pino';
import type { ServerChildOptions, ServerKind } from '../messages';
import type { RunningServer } from './types';

/** The feature ladder's rungs below full Confab: each takes one production feature out. */
const VARIANTS: Partial<Record<ServerKind, { memory?: boolean; passThroughGuard?: boolean; silentBus?: boolean }>> = {
  // SQLite in memory: no file, no fsync'd WAL commit per append.
  'confab-mem': { memory: true },
  // Every update accepted unread: no room schema v1 check, no events derived from it.
  'confab-noguard': { passThroughGuard: true },
  // Events are still derived and written to the outbox; the bus's publish drops them.
  'confab-nobus': { silentBus: true },
};

/** Lets every update through, as if the guard had found nothing to derive. Benchmark only. */
const passThroughGuard: UpdateGuard = {
  check: () => ({ ok: true, changes: { created: [], edited: [], deleted: [], reads: [], reactions: [] } }),
  filterAwareness: () => {},
};

/** A bus that takes every event and hands it to nobody. */
function silentBus(): EventBus {
  return {
    publish: async () => {},
    subscribe: async () => ({ stop: async () => {} }),
    healthy: async () => true,
    close: async () => {},
  };
}

/**
 * The Confab sync server as the all-in-one process runs it: its default
 * update guard (room schema v1), the SQLite database (WAL, commits synced before they are answered)
 * in a scratch directory, the in-process durable bus, sync tokens verified
 * against a JWKS. With `databaseUrl` (a fresh PostgreSQL database) it runs
 * as a separate deployment would store it. The ladder kinds (VARIANTS) take
 * one feature out each, so the report can say what that feature costs.
 */
export async function startConfab(options: ServerChildOptions): Promise<RunningServer> {
  if (!options.publicJwk || !options.dataDir) throw new Error('confab needs publicJwk and dataDir');
  const variant = VARIANTS[options.kind] ?? {};
  const logger = pino({ level: process.env.BENCH_SERVER_LOG_LEVEL ?? 'warn' }, pino.destination(2));
  const config = loadSyncConfig({
    PORT: '0',
    DATA_DIR: options.dataDir,
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    PUBLIC_URL: 'http://localhost:3000',
    SYNC_INSTANCE_ID: 'bench',
    LOG_LEVEL: 'warn',
    // The load generator's clients send far faster than a person (up to ~180 updates/s each):
    // keep the rate limiter in the path (its cost is measured) but never let it close them.
    SYNC_MAX_UPDATES_PER_SECOND: '100000',
    SYNC_UPDATE_BURST: '1000000',
    SYNC_USER_MAX_UPDATES_PER_SECOND: '100000',
    SYNC_USER_UPDATE_BURST: '1000000',
  });
  // ':memory:' is private to this handle, which is why the bus and the server share the one object.
  const database = openDatabase<unknown>({
    databaseUrl: config.databaseUrl,
    dataDir: options.dataDir,
    ...(variant.memory ? { sqliteFile: ':memory:' } : {}),
  });
  const bus = variant.silentBus ? silentBus() : await createInProcessBus({ database, logger });
  const jwks = jose.createLocalJWKSet({ keys: [options.publicJwk as jose.JWK] });
  const server = await startSyncServer({
    config,
    logger,
    database,
    bus,
    jwks,
    listen: { port: 0, host: '127.0.0.1' },
    ...(variant.passThroughGuard ? { guard: passThroughGuard } : {}),
  });
  if (!server.port) throw new Error('confab sync server did not report its port');
  return {
    port: server.port,
    path: '/sync?protocolVersion=1',
    loadedDocuments: () => server.hocuspocus.getDocumentsCount(),
    stop: async () => {
      await server.stop();
      await bus.close();
      await database.close();
    },
  };
}
