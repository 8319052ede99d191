import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ConfigError,
  createLogger,
  createNatsBus,
  createOpsHandler,
  createRegistry,
  openDatabase,
} from '@confab/platform';
import { type AuthConfig, loadAuthConfig } from './config';
import { startAuthServer } from './server';

/**
 * Standalone auth-server (`npm start -w auth-server`): its own port (4000),
 * its own database connection, events over NATS. SIGTERM/SIGINT stop it
 * cleanly: stop accepting, let in-flight requests finish (up to 10 s), then
 * close the bus (flushing its outbox) and the database.
 */
const DRAIN_TIMEOUT_MS = 10_000;

function fail(line: string): never {
  process.stderr.write(`auth-server: ${line}\n`);
  process.exit(1);
}

let config: AuthConfig;
try {
  config = loadAuthConfig(process.env);
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}
if (!config.natsUrl) {
  fail('NATS_URL: must be set when auth-server runs as its own process (separate processes exchange events over NATS)');
}

const logger = createLogger({ name: 'auth-server', level: config.logLevel });
const database = openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
const bus = await createNatsBus({
  url: config.natsUrl,
  database,
  logger,
  stream: config.natsStream,
  subjectPrefix: config.natsSubjectPrefix,
});
const registry = createRegistry({ processMetrics: true });
const handle = await startAuthServer({ config, logger, database, bus, registry });
const ops = createOpsHandler({ handles: () => [handle], registry });

const server = http.createServer((req, res) => {
  if (!ops(req, res)) handle.handleRequest(req, res);
});
server.listen(config.port, () => {
  const { port } = server.address() as AddressInfo;
  logger.info({ port, database: database.kind }, 'auth server listening');
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const drain = setTimeout(() => server.closeAllConnections(), DRAIN_TIMEOUT_MS);
  drain.unref();
  await closed;
  await handle.stop();
  await bus.close();
  await database.close();
  logger.info('stopped');
  process.exit(0);
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
