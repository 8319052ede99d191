import { createInProcessBus, openDatabase } from '@confab/platform';
import { loadSyncConfig, startSyncServer } from '@confab/sync-server';
import * as jose from 'jose';
import pino from 'pino';
import type { ServerChildOptions } from '../messages';
import type { RunningServer } from './types';

/**
 * The Confab sync server as the all-in-one process runs it: its default
 * update guard (room schema v1), the SQLite database (WAL, synchronous=FULL)
 * in a scratch directory, the in-process durable bus, sync tokens verified
 * against a JWKS. With `databaseUrl` (a fresh PostgreSQL database) it runs
 * as a separate deployment would store it.
 */
export async function startConfab(options: ServerChildOptions): Promise<RunningServer> {
  if (!options.publicJwk || !options.dataDir) throw new Error('confab needs publicJwk and dataDir');
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
  const database = openDatabase<unknown>({ databaseUrl: config.databaseUrl, dataDir: options.dataDir });
  const bus = await createInProcessBus({ database, logger });
  const jwks = jose.createLocalJWKSet({ keys: [options.publicJwk as jose.JWK] });
  const server = await startSyncServer({ config, logger, database, bus, jwks, listen: { port: 0, host: '127.0.0.1' } });
  if (!server.port) throw new Error('confab sync server did not report its port');
  return {
    port: server.port,
    path: '/sync?protocolVersion=1',
    stop: async () => {
      await server.stop();
      await bus.close();
      await database.close();
    },
  };
}
