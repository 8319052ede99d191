/**
 * `npm run cluster`: the distributed topology on one machine, without Docker.
 *
 *   gateway (one origin) ─┬─ /api/auth, /api/rooms, /api/invites ─▶ auth-server
 *                         ├─ /sync (WebSocket, round-robin)      ─▶ sync-server ×2 ─ Redis
 *                         ├─ /api/notifications, /api/push       ─▶ notifier
 *                         └─ everything else                     ─▶ client (Next.js)
 *   all of them ─▶ PostgreSQL (one database, created if missing) and NATS JetStream
 *
 * Each service is a child process running its own `src/main.ts` with the
 * environment CONTRACT describes, exactly as `npm start -w <service>` would.
 * `startCluster()` is what e2e/cluster.e2e.test.ts drives.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { bundleService } from './bundle';
import { type Gateway, startGateway, type Upstream } from './cluster/gateway';
import { ensureDatabase } from './cluster/postgres';
import { REPO_ROOT, type ServiceProcess, type ServiceSpec, spawnService, waitUntilReady } from './cluster/process';

export { type Gateway, ROUTES, routeFor, type UpstreamGroup } from './cluster/gateway';
export { dropDatabase, ensureDatabase } from './cluster/postgres';
export { mainOf, type ServiceProcess } from './cluster/process';

export interface ClusterOptions {
  /** Gateway port; 0 picks a free one. */
  readonly port: number;
  /** `postgres://…/<name>`: the database is created when missing and shared by all services (tables are prefixed). */
  readonly databaseUrl: string;
  readonly natsUrl?: string;
  readonly redisUrl?: string;
  /**
   * JetStream stream and subject prefix for this cluster, so a test run does
   * not share stream `CONFAB` with anything else (NATS_STREAM,
   * NATS_SUBJECT_PREFIX); default the CONTRACT's `CONFAB` / `confab`.
   */
  readonly natsStream?: string;
  readonly natsSubjectPrefix?: string;
  /** Redis key prefix of the sync tier (REDIS_PREFIX). */
  readonly redisPrefix?: string;
  /** Number of sync-server instances; default 2. */
  readonly syncInstances?: number;
  /** Start the Next.js client behind the gateway; default true when the client has a main or a build. */
  readonly client?: boolean;
  /** Fixed ports of the services; by default each takes a free one itself and reports it. */
  readonly ports?: { auth?: number; sync?: number[]; notifier?: number; client?: number };
  /** Where each service gets its DATA_DIR (mail files, keys); default a temporary directory removed on stop. */
  readonly dataDir?: string;
  /** Every line a child prints, with its service name (default: dropped; kept for error messages either way). */
  readonly onLog?: (service: string, line: string) => void;
  /** Extra environment for every service (LOG_LEVEL, SMTP_URL, …). */
  readonly env?: Record<string, string>;
  /**
   * Run auth-server, sync-server and notifier from the bundles the images run
   * (scripts/bundle.ts, plain `node main.mjs`) instead of their TypeScript
   * sources through tsx. Each is bundled afresh into
   * `<workspace>/node_modules/.cache/confab-cluster/`.
   */
  readonly bundled?: boolean;
}

export interface SyncInstance {
  readonly name: string;
  readonly port: number;
  readonly running: boolean;
}

export interface Cluster {
  /** The origin users open (PUBLIC_URL), served by the gateway. */
  readonly url: string;
  readonly gateway: Gateway;
  readonly authUrl: string;
  readonly internalApiToken: string;
  readonly syncInstances: () => SyncInstance[];
  /** kill -9 one sync instance; the gateway stops routing to it. */
  killSync(index: number): Promise<void>;
  /** Starts a killed sync instance again (on its fixed port, or a new free one) and routes to it once ready. */
  restartSync(index: number): Promise<void>;
  /** The output of a service so far, for diagnostics. */
  logs(service: string): string;
  stop(): Promise<void>;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const natsUrl = options.natsUrl ?? 'nats://127.0.0.1:4222';
  const redisUrl = options.redisUrl ?? 'redis://127.0.0.1:6379';
  const syncCount = options.syncInstances ?? 2;
  const ownDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'confab-cluster-')));
  const internalApiToken = randomBytes(32).toString('base64url');
  const started: ServiceProcess[] = [];
  const gateway = await startGateway({ port: options.port });

  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    await gateway.close();
    // Reverse start order: the edge first, the auth server (everyone's dependency) last.
    for (const service of [...started].reverse()) await service.stop();
    if (ownDataDir) await rm(dataDir, { recursive: true, force: true });
  };

  try {
    await ensureDatabase(options.databaseUrl);
    // 0: the service takes a free port itself and reports it (no guessed port another process could take first).
    const ports = {
      auth: options.ports?.auth ?? 0,
      sync: options.ports?.sync ?? Array.from({ length: syncCount }, () => 0),
      notifier: options.ports?.notifier ?? 0,
      client: options.ports?.client ?? 0,
    };
    const base: Record<string, string> = {
      DATABASE_URL: options.databaseUrl,
      NATS_URL: natsUrl,
      INTERNAL_API_TOKEN: internalApiToken,
      PUBLIC_URL: gateway.url,
      ...(options.natsStream ? { NATS_STREAM: options.natsStream } : {}),
      ...(options.natsSubjectPrefix ? { NATS_SUBJECT_PREFIX: options.natsSubjectPrefix } : {}),
      ...options.env,
    };

    const bundles = options.bundled ? await bundleServices() : null;
    const launch = async (spec: ServiceSpec): Promise<ServiceProcess> => {
      await mkdir(spec.env.DATA_DIR ?? dataDir, { recursive: true });
      const bundle = bundles?.get(spec.workspace);
      const service = spawnService(
        bundle && !spec.command ? { ...spec, command: { file: process.execPath, args: [bundle] } } : spec,
        options.onLog,
      );
      started.push(service);
      await waitUntilReady(service);
      return service;
    };

    const auth = await launch({
      name: 'auth',
      workspace: 'auth-server',
      port: ports.auth,
      // Behind the gateway: throttling keys on X-Forwarded-For, not on the gateway's address.
      env: { ...base, DATA_DIR: path.join(dataDir, 'auth'), TRUST_PROXY: '1' },
    });
    gateway.setUpstreams('auth', [{ name: auth.spec.name, port: auth.port }]);
    const authUrl = `http://127.0.0.1:${auth.port}`;
    const common: Record<string, string> = { ...base, AUTH_URL: authUrl };

    const syncSpec = (index: number): ServiceSpec => {
      const port = ports.sync[index];
      if (port === undefined) throw new Error(`no port for sync instance ${index}`);
      return {
        name: `sync-${index + 1}`,
        workspace: 'sync-server',
        port,
        env: {
          ...common,
          DATA_DIR: path.join(dataDir, `sync-${index + 1}`),
          REDIS_URL: redisUrl,
          // Names the instance's bus consumer and Redis identity; the default (the host name) is the same for both here.
          SYNC_INSTANCE_ID: `sync-${index + 1}`,
          ...(options.redisPrefix ? { REDIS_PREFIX: options.redisPrefix } : {}),
        },
      };
    };
    const sync: Array<ServiceProcess | null> = [];
    const running = new Set<number>();
    const routeSync = () => {
      const upstreams: Upstream[] = [];
      for (const index of [...running].sort()) {
        const instance = sync[index];
        if (instance) upstreams.push({ name: instance.spec.name, port: instance.port });
      }
      gateway.setUpstreams('sync', upstreams);
    };
    const startSync = async (index: number) => {
      const instance = await launch(syncSpec(index));
      sync[index] = instance;
      running.add(index);
      void instance.exited.then((code) => {
        if (sync[index] === instance && running.has(index) && !stopping) {
          // Not killed by killSync(): it died by itself, which no caller expects. Say why, where it cannot be missed.
          process.stderr.write(
            `cluster: ${instance.spec.name} exited on its own (code ${code}):\n${instance.tail()}\n`,
          );
        }
        if (sync[index] === instance) {
          running.delete(index);
          routeSync();
        }
      });
      routeSync();
    };

    // The first instance alone runs the sync migrations; the others and the notifier then start side by side.
    await startSync(0);
    const notifierStarted = launch({
      name: 'notifier',
      workspace: 'notifier',
      port: ports.notifier,
      env: { ...common, DATA_DIR: path.join(dataDir, 'notifier') },
    });
    await Promise.all([...Array.from({ length: syncCount - 1 }, (_, i) => startSync(i + 1)), notifierStarted]);
    const notifier = await notifierStarted;
    gateway.setUpstreams('notifier', [{ name: notifier.spec.name, port: notifier.port }]);

    const client = clientCommand();
    if (options.client ?? client !== null) {
      if (!client) throw new Error('the client (client/server.ts) is not there');
      const service = await launch({
        name: 'client',
        workspace: 'client',
        port: ports.client,
        command: client.command,
        readyPath: '/',
        env: { ...common, DATA_DIR: path.join(dataDir, 'client'), ...client.env },
      });
      gateway.setUpstreams('client', [{ name: service.spec.name, port: service.port }]);
    }

    return {
      url: gateway.url,
      gateway,
      authUrl,
      internalApiToken,
      syncInstances: () =>
        ports.sync.map((port, index) => ({
          name: `sync-${index + 1}`,
          port: sync[index]?.port ?? port,
          running: running.has(index),
        })),
      async killSync(index) {
        const instance = sync[index];
        if (!instance) throw new Error(`no sync instance ${index}`);
        running.delete(index);
        routeSync();
        await instance.kill();
      },
      async restartSync(index) {
        if (running.has(index)) throw new Error(`sync instance ${index} is running`);
        await startSync(index);
      },
      logs(service) {
        return started
          .filter((s) => s.spec.name === service)
          .map((s) => s.tail())
          .join('\n');
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The three services' bundles, built side by side: workspace → bundle file. */
async function bundleServices(): Promise<Map<string, string>> {
  const workspaces = ['auth-server', 'sync-server', 'notifier'];
  const files = await Promise.all(
    workspaces.map((workspace) =>
      // Inside the workspace's node_modules, so the packages left external resolve as from the image's dist/.
      bundleService(workspace, path.join(REPO_ROOT, workspace, 'node_modules', '.cache', 'confab-cluster', 'main.mjs')),
    ),
  );
  return new Map(workspaces.map((workspace, index) => [workspace, files[index] ?? '']));
}

/**
 * How to run the web app: its own server (`npm start -w client`, client/server.ts)
 * on the production build when there is one, else in Next's dev mode, which
 * compiles pages on first request. Null when the client is not there.
 */
function clientCommand(): { command: { file: string; args: string[] }; env: Record<string, string> } | null {
  const clientDir = path.join(REPO_ROOT, 'client');
  const server = path.join(clientDir, 'server.ts');
  if (!existsSync(server)) return null;
  const built = existsSync(path.join(clientDir, '.next', 'BUILD_ID'));
  return {
    command: { file: process.execPath, args: ['--import', 'tsx', server] },
    env: { HOST: '127.0.0.1', NODE_ENV: built ? 'production' : 'development' },
  };
}

const cliSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:5432/confab_cluster'),
  NATS_URL: z
    .string()
    .regex(/^(nats|tls):\/\//, 'must be a nats:// URL')
    .default('nats://127.0.0.1:4222'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// URL')
    .default('redis://127.0.0.1:6379'),
  CLUSTER_DATA_DIR: z.string().default(path.join(REPO_ROOT, 'data', 'cluster')),
  CLUSTER_CLIENT: z.enum(['0', '1', 'auto']).default('auto'),
});

async function main(): Promise<void> {
  const parsed = cliSchema.safeParse(process.env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    process.stderr.write(`${String(issue?.path[0] ?? 'environment')}: ${issue?.message ?? 'invalid'}\n`);
    process.exit(1);
  }
  const env = parsed.data;
  const width = 9;
  const cluster = await startCluster({
    port: env.PORT,
    databaseUrl: env.DATABASE_URL,
    natsUrl: env.NATS_URL,
    redisUrl: env.REDIS_URL,
    dataDir: env.CLUSTER_DATA_DIR,
    ports: { auth: 4000, sync: [4100, 4101], notifier: 4200, client: 3000 },
    ...(env.CLUSTER_CLIENT === 'auto' ? {} : { client: env.CLUSTER_CLIENT === '1' }),
    onLog: (service, line) => process.stdout.write(`${service.padEnd(width)}| ${line}\n`),
  });
  process.stdout.write(
    `${'cluster'.padEnd(width)}| ready: open ${cluster.url} (sync instances: ${cluster
      .syncInstances()
      .map((s) => s.port)
      .join(', ')}); Ctrl-C stops\n`,
  );
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${'cluster'.padEnd(width)}| stopping\n`);
    void cluster.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`cluster: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
