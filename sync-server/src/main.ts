import { createLogger, createNatsBus, createRegistry, openDatabase } from '@confab/platform';
import { createRemoteJWKSet } from 'jose';
import { loadSyncConfig, requireStandalone, type SyncConfig, SyncConfigError } from './config';
import { startSyncServer } from './server';

/**
 * Standalone sync-server (`npm start -w sync-server`): port 4100, the
 * WebSocket at `/sync` and `/`, `/healthz`, `/readyz`, `/metrics`. Events
 * over NATS; sync tokens verified against AUTH_URL's JWKS. SIGTERM/SIGINT:
 * refuse new sockets, close the open ones with 1001, wait for appends in
 * flight and for documents to unload, hand pending events to the bus, close.
 */
function fail(line: string): never {
  process.stderr.write(`sync-server: ${line}\n`);
  process.exit(1);
}

let config: SyncConfig;
try {
  config = loadSyncConfig(process.env);
  requireStandalone(config);
} catch (error) {
  if (error instanceof SyncConfigError) fail(error.message);
  throw error;
}

const logger = createLogger({ name: 'sync-server', level: config.logLevel });
const database = openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
const bus = await createNatsBus({
  url: config.natsUrl!,
  database,
  logger,
  ...(config.natsStream ? { stream: config.natsStream } : {}),
  ...(config.natsSubjectPrefix ? { subjectPrefix: config.natsSubjectPrefix } : {}),
});
// jose caches the key set and refetches it when a token names an unknown key (at most every 30 s).
const jwks = createRemoteJWKSet(new URL('/api/auth/jwks', config.authUrl), { cooldownDuration: 30_000 });
const registry = createRegistry({ processMetrics: true });
const handle = await startSyncServer({
  config,
  logger,
  database,
  bus,
  jwks,
  registry,
  listen: { port: config.port },
});
logger.info({ port: handle.port, database: database.kind }, 'sync server listening');

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  await handle.stop();
  await bus.close();
  await database.close();
  process.exit(0);
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
