import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ConfigError,
  createHttpDirectory,
  createHttpSessionVerifier,
  createLogger,
  createNatsBus,
  createOpsHandler,
  createRegistry,
  openDatabase,
} from '@confab/platform';
import { loadNotifierConfig, type NotifierConfig } from './config';
import { startNotifier } from './service';

/**
 * Standalone notifier (`npm start -w notifier`, port 4200): events from NATS
 * JetStream, sessions and rooms from auth-server's internal API. SIGTERM or
 * SIGINT: stop consuming (in-flight events finish and are acked), let the
 * running dispatch finish, close the streams, the bus and the database.
 */
const DRAIN_TIMEOUT_MS = 10_000;

function fail(line: string): never {
  process.stderr.write(`notifier: ${line}\n`);
  process.exit(1);
}

let config: NotifierConfig;
try {
  config = loadNotifierConfig(process.env);
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}
if (!config.natsUrl) {
  fail('NATS_URL: must be set when the notifier runs as its own process (it reads events from NATS JetStream)');
}
if (!config.authUrl || !config.internalApiToken) {
  fail('AUTH_URL: must be set (with INTERNAL_API_TOKEN) when the notifier runs as its own process');
}

const logger = createLogger({ name: 'notifier', level: config.logLevel });
const database = openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
const bus = await createNatsBus({
  url: config.natsUrl,
  database,
  logger,
  stream: config.natsStream,
  subjectPrefix: config.natsSubjectPrefix,
});
const registry = createRegistry({ processMetrics: true });
const handle = await startNotifier({
  config,
  logger,
  database,
  bus,
  sessions: createHttpSessionVerifier(config.authUrl, config.internalApiToken),
  directory: createHttpDirectory(config.authUrl, config.internalApiToken),
  registry,
});
const ops = createOpsHandler({ handles: () => [handle], registry });

const server = http.createServer((req, res) => {
  if (!ops(req, res)) handle.handleRequest(req, res);
});
server.listen(config.port, () => {
  const { port } = server.address() as AddressInfo;
  logger.info({ port, database: database.kind }, 'notifier listening');
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // SSE streams end when the handle stops; anything else gets DRAIN_TIMEOUT_MS.
  await handle.stop();
  // The SSE responses have ended; their keep-alive connections are idle now.
  server.closeIdleConnections();
  const drain = setTimeout(() => server.closeAllConnections(), DRAIN_TIMEOUT_MS);
  drain.unref();
  await closed;
  await bus.close();
  await database.close();
  logger.info('stopped');
  process.exit(0);
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
