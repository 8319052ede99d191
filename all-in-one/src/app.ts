import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadAuthConfig, startAuthServer } from '@confab/auth-server';
import { startClient } from '@confab/client';
import { loadNotifierConfig, startNotifier } from '@confab/notifier';
import {
  createInProcessBus,
  createLogger,
  createNatsBus,
  createOpsHandler,
  createRegistry,
  type EventBus,
  type Logger,
  openDatabase,
  type ServiceHandle,
} from '@confab/platform';
import { errorBody } from '@confab/protocol';
import { loadSyncConfig, startSyncServer } from '@confab/sync-server';
import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { type AllInOneConfig, loadAllInOneConfig } from './config';

/**
 * Confab in one process: the services' own start functions composed behind
 * one port. Routing by path prefix is all this adds; every rule lives in a service.
 */
export interface Confab {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

const ROUTES: ReadonlyArray<readonly [prefix: string, service: 'auth' | 'notifier']> = [
  ['/api/auth', 'auth'],
  ['/api/rooms', 'auth'],
  ['/api/invites', 'auth'],
  ['/api/notifications', 'notifier'],
  ['/api/push', 'notifier'],
];

function routeOf(pathname: string): 'auth' | 'notifier' | 'client' {
  for (const [prefix, service] of ROUTES) {
    if (pathname === prefix || pathname.startsWith(`${prefix}/`)) return service;
  }
  return 'client';
}

export async function startConfab(
  env: Record<string, string | undefined> = process.env,
  { logger: injected }: { logger?: Logger } = {},
): Promise<Confab> {
  const config: AllInOneConfig = loadAllInOneConfig(env);
  // Unset PUBLIC_URL means "this machine, on the port we listen on": `PORT=8080 npm start`
  // must accept sign-ups from http://localhost:8080 (the Origin check compares against it).
  const publicUrl = env.PUBLIC_URL || (config.PORT !== 0 ? `http://localhost:${config.PORT}` : undefined);
  const serviceEnv = { ...env, DATA_DIR: config.dataDir, ...(publicUrl ? { PUBLIC_URL: publicUrl } : {}) };
  const logger = injected ?? createLogger({ name: 'confab', level: config.LOG_LEVEL });
  const registry = createRegistry({ processMetrics: true });
  const database = openDatabase<unknown>({ databaseUrl: config.DATABASE_URL, dataDir: config.dataDir });
  const started: ServiceHandle[] = [];
  let bus: EventBus | undefined;

  const stopAll = async () => {
    // Reverse order: the edge first, so nothing new arrives while the core drains.
    for (const service of [...started].reverse()) {
      await service
        .stop()
        .catch((error: unknown) => logger.error({ err: error, service: service.name }, 'stop failed'));
    }
    await bus?.close().catch((error: unknown) => logger.error({ err: error }, 'bus close failed'));
    await database.close();
  };

  try {
    bus = config.NATS_URL
      ? await createNatsBus({ url: config.NATS_URL, database, logger: logger.child({ component: 'bus' }) })
      : await createInProcessBus({ database, logger: logger.child({ component: 'bus' }) });

    const auth = await startAuthServer({
      config: loadAuthConfig(serviceEnv),
      logger,
      database,
      bus,
      registry,
    });
    started.push(auth);

    // The sync server verifies tokens against the auth server's key set in
    // memory, re-read on every lookup so a rotated key is picked up at once.
    let keySet: { keys: unknown; verify: JWTVerifyGetKey } | undefined;
    const jwks: JWTVerifyGetKey = async (header, token) => {
      const { keys } = await auth.jwks();
      // Import the keys once per key set, not once per connection.
      if (keySet?.keys !== keys) keySet = { keys, verify: createLocalJWKSet({ keys }) };
      return keySet.verify(header, token);
    };
    const sync = await startSyncServer({
      config: loadSyncConfig(serviceEnv),
      logger: logger.child({ service: 'sync' }),
      database,
      bus,
      jwks,
      registry,
    });
    started.push(sync);

    const notifier = await startNotifier({
      config: loadNotifierConfig(serviceEnv),
      logger,
      database,
      bus,
      sessions: auth.sessions,
      directory: auth.directory,
      registry,
    });
    started.push(notifier);

    const client =
      config.CONFAB_CLIENT === 'off' ? undefined : await startClient({ dev: config.CONFAB_CLIENT === 'dev' });
    if (client) started.push(client);

    const services = { auth, notifier, client };
    // Readiness of the process = every service ready (each checks its database and bus).
    const ops = createOpsHandler({ handles: () => started, registry });
    const server = http.createServer((req, res) => {
      const pathname = routingPath(req.url);
      if (ops(req, res)) return;
      const target = services[routeOf(pathname)];
      if (target) return target.handleRequest(req, res);
      json(res, 404, errorBody('not_found', 'no such route'));
    });
    server.on('upgrade', (req, socket, head) => {
      const pathname = routingPath(req.url);
      if (pathname === '/sync' || pathname?.startsWith('/sync/')) return sync.handleUpgrade?.(req, socket, head);
      if (client?.handleUpgrade) return client.handleUpgrade(req, socket, head);
      socket.destroy();
    });

    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (config.HOST) server.listen(config.PORT, config.HOST, () => resolve());
      else server.listen(config.PORT, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const host = !config.HOST || config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    logger.info(
      { port, dataDir: config.dataDir, database: database.kind, bus: config.NATS_URL ? 'nats' : 'in-process' },
      `Confab is running at ${url}`,
    );

    let stopping: Promise<void> | undefined;
    return {
      url,
      port,
      stop: () => {
        stopping ??= (async () => {
          server.close();
          await stopAll();
          server.closeAllConnections();
        })();
        return stopping;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * The path as the services will see it: WHATWG-normalized, so dot segments
 * (`..`, `%2e%2e`) are resolved BEFORE routing. Routing on the raw path let
 * `/api/auth/../../internal/…` reach the auth server, whose router normalizes
 * it to `/internal/…`, an API the all-in-one must not expose.
 */
function routingPath(rawUrl: string | undefined): string {
  try {
    return new URL(rawUrl ?? '/', 'http://localhost').pathname;
  } catch {
    return '/';
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}
