import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { createNatsBus } from './bus/nats-lazy';
import type { EventBus } from './bus/port';
import { ConfigError } from './config';
import { type Database, openDatabase } from './db/database';
import { createOpsHandler } from './http/ops';
import { announceListening } from './listening';
import { createLogger, type Logger } from './log';
import { createRegistry } from './metrics';
import type { ServiceHandle } from './ports';

/**
 * What every service's `main.ts` does when it runs as its own process: parse
 * its config (one line and exit 1 on a bad value), open its database and the
 * NATS bus, start the service, serve it with /healthz, /readyz and /metrics,
 * and on SIGTERM or SIGINT stop in order: refuse new requests, stop the
 * service (it drains its own connections and in-flight events), give other
 * requests up to `drainTimeoutMs`, then close the bus (flushing its outbox)
 * and the database.
 */
export interface StandaloneConfig {
  readonly port: number;
  readonly dataDir: string;
  readonly databaseUrl?: string | undefined;
  readonly natsUrl?: string | undefined;
  readonly natsStream?: string | undefined;
  readonly natsSubjectPrefix?: string | undefined;
  readonly logLevel: string;
}

export interface StandaloneDeps<C> {
  readonly config: C;
  readonly logger: Logger;
  readonly database: Database<unknown>;
  readonly bus: EventBus;
  readonly registry: Registry;
}

export interface RunStandaloneOptions<C extends StandaloneConfig> {
  /** Process name, first word of every refusal line and the logger's name. */
  readonly name: string;
  /** Parses the environment; throws ConfigError on a bad value. */
  readonly loadConfig: (env: Record<string, string | undefined>) => C;
  /** What a separate process needs beyond the defaults: a one-line refusal, or null. */
  readonly refuse?: (config: C) => string | null;
  /**
   * Starts the service. A handle that reports a `port` listens by itself
   * (the sync server serves its own socket); otherwise it is wrapped in an HTTP server on `config.port`.
   */
  readonly start: (deps: StandaloneDeps<C>) => Promise<ServiceHandle & { readonly port?: number | undefined }>;
  readonly drainTimeoutMs?: number;
  readonly env?: Record<string, string | undefined>;
}

export async function runStandalone<C extends StandaloneConfig>(options: RunStandaloneOptions<C>): Promise<void> {
  const { name, drainTimeoutMs = 10_000, env = process.env } = options;
  const fail = (line: string): never => {
    process.stderr.write(`${name}: ${line}\n`);
    process.exit(1);
  };

  let config: C;
  try {
    config = options.loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const refusal = options.refuse?.(config) ?? null;
  if (refusal) fail(refusal);
  if (!config.natsUrl) {
    fail(`NATS_URL: must be set when ${name} runs as its own process (separate processes exchange events over NATS)`);
  }

  const logger = createLogger({ name, level: config.logLevel });
  const database = openDatabase<unknown>({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const bus = await createNatsBus({
    url: config.natsUrl as string,
    database,
    logger,
    ...(config.natsStream ? { stream: config.natsStream } : {}),
    ...(config.natsSubjectPrefix ? { subjectPrefix: config.natsSubjectPrefix } : {}),
  });
  const registry = createRegistry({ processMetrics: true });
  const handle = await options.start({ config, logger, database, bus, registry });

  let server: http.Server | undefined;
  if (handle.port === undefined) {
    const ops = createOpsHandler({ handles: () => [handle], registry });
    const listening = http.createServer((req, res) => {
      if (!ops(req, res)) handle.handleRequest(req, res);
    });
    listening.on('upgrade', (req, socket, head) => {
      if (handle.handleUpgrade) handle.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
    await new Promise<void>((resolve) => listening.listen(config.port, resolve));
    server = listening;
  }
  const port = server ? (server.address() as AddressInfo).port : handle.port;
  logger.info({ port, database: database.kind }, `${name} listening`);
  if (port !== undefined) announceListening(port);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    server?.closeIdleConnections();
    await handle.stop();
    // Long-lived responses (SSE) ended with the service; their keep-alive connections are idle now.
    server?.closeIdleConnections();
    const drain = setTimeout(() => server?.closeAllConnections(), drainTimeoutMs);
    drain.unref();
    await closed;
    await bus.close();
    await database.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
