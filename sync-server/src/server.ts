import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  createOpsHandler,
  type Database,
  type EventBus,
  migrate,
  type ServiceHandle,
  type Subscription,
} from '@confab/platform';
import { CLOSE, type ErrorCode, errorBody, parseDocumentName } from '@confab/protocol';
import { type Extension, Hocuspocus, type WebSocketLike } from '@hocuspocus/server';
import type { Redis } from 'ioredis';
import type { JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { type WebSocket, WebSocketServer } from 'ws';
import type { SyncConfig } from './config';
import { AuthExtension, MAX_TOKEN_LIFETIME_MS } from './extensions/auth';
import { createConfabGuard } from './extensions/confab-guard';
import { EventRelay } from './extensions/events';
import type { UpdateGuard } from './extensions/guard-port';
import { SyncMetrics } from './extensions/metrics';
import { Persistence } from './extensions/persistence';
import { LocalPresence, type Presence, RedisPresence } from './extensions/presence';
import { UpdateRateLimit } from './extensions/rate-limit';
import { ConnectionRegistry, consumeAuthEvents } from './extensions/revocation';
import { deferredUpdateBound, UpdatePipeline } from './extensions/update-pipeline';
import { MergeWorker } from './storage/merge-worker';
import { KyselyRevocationList } from './storage/revocations';
import { MIGRATION_TABLE, syncMigrations } from './storage/schema';
import { KyselySyncStore, type SyncStore } from './storage/sync-store';
import { MAX_MESSAGE_BYTES, originAllowed, protocolVersionAccepted } from './upgrade';

/**
 * Rooms up to this size (snapshot + log) are compacted by encoding the loaded document on the event
 * loop (about 12 ms per MiB on the 2-core test machine, and no reads); larger ones are read from
 * storage and folded in the merge worker, which costs more CPU in all (the room is applied again)
 * but holds the event loop only for the reads and writes (docs/sync.md, "Compaction").
 */
const LIVE_COMPACTION_MAX_BYTES = 1024 * 1024;

/** How long stop() waits for documents to unload after their sockets closed. */
const STOP_TIMEOUT_MS = 10_000;

export interface StartSyncServerOptions {
  config: SyncConfig;
  logger: Logger;
  // biome-ignore lint/suspicious/noExplicitAny: the database is shared by services that each type only their own tables
  database: Database<any>;
  bus: EventBus;
  /** Resolves the key of a sync token: `createLocalJWKSet` in process, `createRemoteJWKSet(AUTH_URL/api/auth/jwks)` alone. */
  jwks: JWTVerifyGetKey;
  registry?: Registry;
  clock?: () => number;
  /** The update guard; the room schema v1 guard by default. */
  guard?: UpdateGuard;
  /**
   * Listen on a port of its own (the standalone process, tests). The server
   * then also answers `/healthz`, `/readyz`, `/metrics` and takes the
   * WebSocket at `/` as well as `/sync`.
   */
  listen?: { port: number; host?: string };
  /** How often events the bus did not take are retried. Default 5 s. */
  eventSweepIntervalMs?: number;
  /** Ask a connection's client for a new token this long before its token expires. Default 60 s. */
  tokenRenewBeforeMs?: number;
  /** Close a connection whose token expired unrenewed this long after `exp`. Default 30 s. */
  tokenExpiryGraceMs?: number;
}

export type SyncServerHandle = ServiceHandle & {
  hocuspocus: Hocuspocus;
  port?: number;
  /** The storage, for tests and tools (benchmarks, admin). */
  store: SyncStore;
  /** Runs a compaction of the document now (tests, tools). */
  compact(documentName: string): Promise<void>;
};

function redisOptionsFrom(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    options: {
      username: u.username ? decodeURIComponent(u.username) : undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
      tls: u.protocol === 'rediss:' ? {} : undefined,
    },
  };
}

/**
 * The request Hocuspocus is handed for a connection. It reads two things of it:
 * `headers` (for hook payloads) and `url`, which it parses into
 * `requestParameters` again for every update it applies (`getParameters`:
 * `new URL(…)` when the URL is absolute, a plain split of the query when it is
 * a path). A fetch `Request`'s URL is always absolute: with it, that was 2.3%
 * of the event loop's busy time at 20,000 deliveries/s in rooms of 10, and
 * 1.5% with the path (the query's parse is left), twice per message (the
 * before- and after-message hooks' payloads) and once per update. Confab's hooks
 * read neither, and `getParameters` is Hocuspocus's only use of the URL, so it
 * gets none (an empty query, without a parse) and the upgrade's headers; the
 * upgrade's query (`protocolVersion`) was checked before (`accept`).
 */
function hocuspocusRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string') headers.set(name, value);
    else if (Array.isArray(value)) for (const v of value) headers.append(name, v);
  }
  const request: Pick<Request, 'url' | 'headers'> = { url: '', headers };
  return request as Request;
}

function refuseUpgrade(socket: Duplex, status: number, statusText: string, code: ErrorCode, message: string): void {
  const body = JSON.stringify(errorBody(code, message));
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * Starts the sync server: Hocuspocus composed from one extension per concern
 * (auth, update pipeline = guard + durable append + events, persistence,
 * connections/revocation, Redis scale-out), behind a `ws` server that enforces
 * the origin, the protocol version and the 1 MiB message limit.
 */
export async function startSyncServer(options: StartSyncServerOptions): Promise<SyncServerHandle> {
  const { config, logger, database, bus, jwks } = options;
  const clock = options.clock ?? Date.now;
  const registry = options.registry ?? new Registry();
  const guard = options.guard ?? createConfabGuard();

  await migrate(database.db, MIGRATION_TABLE, syncMigrations(database.kind));
  // With the in-process bus on this database, events are committed into the bus's log with their update.
  // Compactions that read the room from storage fold it in a worker thread, off the event loop. On an
  // SQLite file that thread also writes every compaction and checkpoints the WAL, on a connection of its
  // own: the event loop's connection is left with the group commits (well under a millisecond each).
  const sqliteFile = database.kind === 'sqlite' ? database.sqlite : undefined;
  const merger = new MergeWorker(sqliteFile ? { sqliteLocation: sqliteFile.location } : {});
  const store = new KyselySyncStore({
    database,
    clock,
    bus,
    merge: merger.merge,
    ...(sqliteFile ? { compactionWriter: merger } : {}),
  });
  const takeBackCheckpoints = sqliteFile?.delegateCheckpoints(() => merger.checkpoint());
  const revocations = new KyselyRevocationList(database, MAX_TOKEN_LIFETIME_MS);
  const metrics = new SyncMetrics(registry);

  let hocuspocus!: Hocuspocus;
  let presenceRedis: Redis | undefined;
  let presence: Presence;
  // The Redis client and Hocuspocus's Redis extension are loaded only when REDIS_URL asks for them:
  // a single instance never holds them in memory.
  if (config.redisUrl) {
    const { Redis: RedisClient } = await import('ioredis');
    presenceRedis = new RedisClient(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2 });
    presenceRedis.on('error', (error) => logger.warn({ err: error }, 'redis (presence) error'));
    presence = new RedisPresence(presenceRedis, { prefix: config.redisPrefix, instanceId: config.instanceId, logger });
  } else {
    presence = new LocalPresence(() => hocuspocus);
  }

  const persistence = new Persistence({
    store,
    logger,
    metrics,
    compactMinBytes: config.compactMinBytes,
    // With Redis, other instances write to the same rooms: only storage knows every row.
    compactFromLoadedDocument: !config.redisUrl,
    // Larger rooms are folded from storage in the merge worker: their encode would hold every room.
    liveCompactionMaxBytes: LIVE_COMPACTION_MAX_BYTES,
    prepare: (doc, documentName, retiredMessageIds) => {
      const parsed = parseDocumentName(documentName);
      return parsed && guard.prepare ? guard.prepare(doc, parsed, retiredMessageIds) : [];
    },
  });
  const relay = new EventRelay({
    store,
    bus,
    logger,
    clock,
    ...(options.eventSweepIntervalMs ? { sweepIntervalMs: options.eventSweepIntervalMs } : {}),
  });
  const connections = new ConnectionRegistry(presence, logger);
  const extensions: Extension[] = [
    new AuthExtension({
      jwks,
      revocations,
      clock,
      logger,
      ...(options.tokenRenewBeforeMs === undefined ? {} : { renewBeforeMs: options.tokenRenewBeforeMs }),
      ...(options.tokenExpiryGraceMs === undefined ? {} : { expiryGraceMs: options.tokenExpiryGraceMs }),
    }),
    persistence,
    new UpdateRateLimit({
      perConnection: config.updateRatePerConnection,
      perUser: config.updateRatePerUser,
      metrics,
      logger,
      clock,
    }),
    new UpdatePipeline({
      guard,
      persistence,
      relay,
      presence,
      metrics,
      logger,
      maxDeferredUpdates: deferredUpdateBound(config.updateRatePerConnection.burst),
    }),
    connections,
  ];
  if (config.redisUrl) {
    const { Redis: RedisExtension } = await import('@hocuspocus/extension-redis');
    const { host, port, options: redisOptions } = redisOptionsFrom(config.redisUrl);
    extensions.push(
      new RedisExtension({
        host,
        port,
        options: redisOptions,
        prefix: config.redisPrefix,
        identifier: config.instanceId,
      }),
    );
  }

  hocuspocus = new Hocuspocus({
    name: config.instanceId,
    quiet: true,
    extensions,
    // The update log makes each update durable before its ack, and the pipeline applies updates with
    // an origin that skips Hocuspocus's store hooks (UpdatePipeline.beforeSync), so nothing is ever
    // debounced for storing: a room unloads as soon as its last connection has closed.
    unloadImmediately: true,
    yDocOptions: { gc: true, gcFilter: () => true },
  });
  metrics.bind({
    hocuspocus,
    outboxDepth: async () => (await store.countPendingEvents()) + ((await bus.outboxDepth?.()) ?? 0),
    sqlite: sqliteFile?.stats,
  });

  relay.start();
  let authSubscription: Subscription | undefined;
  try {
    authSubscription = await consumeAuthEvents({
      bus,
      revocations,
      registry: connections,
      instanceId: config.instanceId,
      clock,
      logger,
      deleteDocument: (document) => persistence.deleteDocument(document),
    });
  } catch (error) {
    // No half-started server: release what was set up, then report.
    await relay.stop();
    await presence.stop();
    presenceRedis?.disconnect();
    takeBackCheckpoints?.();
    await merger.close();
    throw error;
  }
  const pruneTimer = setInterval(() => {
    revocations.prune(clock()).catch((error) => logger.warn({ err: error }, 'revocation prune failed'));
  }, 60_000);
  pruneTimer.unref();

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const sockets = new Set<WebSocket>();
  const paths = options.listen ? ['/sync', '/'] : ['/sync'];
  let stopping = false;

  const accept = (ws: WebSocket, req: IncomingMessage, url: URL) => {
    if (!protocolVersionAccepted(url.searchParams)) {
      ws.close(CLOSE.upgradeRequired.code, CLOSE.upgradeRequired.reason);
      return;
    }
    sockets.add(ws);
    const client = hocuspocus.handleConnection(ws as unknown as WebSocketLike, hocuspocusRequest(req));
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      const bytes = Array.isArray(data)
        ? new Uint8Array(Buffer.concat(data))
        : data instanceof ArrayBuffer
          ? new Uint8Array(data)
          : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      client.handleMessage(bytes);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      sockets.delete(ws);
      client.handleClose({ code, reason: reason.toString() });
    });
    ws.on('error', (error) => {
      // ws closes the socket itself (1009 for an oversized message); this is only worth a line.
      logger.info({ err: error.message }, 'websocket error');
    });
  };

  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!paths.includes(url.pathname)) return refuseUpgrade(socket, 404, 'Not Found', 'not_found', 'no such endpoint');
    if (stopping) return refuseUpgrade(socket, 503, 'Service Unavailable', 'unavailable', 'shutting down');
    if (!originAllowed(req.headers.origin, config.publicOrigin)) {
      logger.info({ origin: req.headers.origin }, 'websocket upgrade from a foreign origin refused');
      return refuseUpgrade(socket, 403, 'Forbidden', 'bad_origin', 'this origin may not open the sync socket');
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req, url));
  };

  const ready = async () => {
    if (stopping) return false;
    const [db, busOk] = await Promise.all([database.ping(), bus.healthy().catch(() => false)]);
    return db && busOk;
  };

  // The same bodies as every service's (`{status}`, `{status, services}`): the ops handler of platform/.
  const ops = createOpsHandler({ handles: () => [{ name: 'sync-server', ready }], registry });
  const handleRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (ops(req, res)) return;
    sendJson(res, 404, errorBody('not_found', 'no such endpoint'));
  };

  let httpServer: Server | undefined;
  let port: number | undefined;
  if (options.listen) {
    const server = createServer(handleRequest);
    server.on('upgrade', handleUpgrade);
    httpServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.listen?.port, options.listen?.host, () => resolve());
    });
    port = (server.address() as AddressInfo).port;
  }

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      clearInterval(pruneTimer);
      await authSubscription?.stop().catch((error) => logger.warn({ err: error }, 'auth subscription stop failed'));
      for (const ws of sockets) ws.close(CLOSE.goingAway.code, CLOSE.goingAway.reason);
      // Every accepted update is already in the log; wait for appends in flight and for documents to unload.
      const deadline = Date.now() + STOP_TIMEOUT_MS;
      hocuspocus.flushPendingStores();
      while (hocuspocus.getDocumentsCount() > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      for (const ws of sockets) ws.terminate();
      await persistence.drain();
      takeBackCheckpoints?.();
      await merger.close();
      relay.sweep();
      await relay.stop();
      await hocuspocus.hooks('onDestroy', { instance: hocuspocus });
      await presence.stop();
      presenceRedis?.disconnect();
      wss.close();
      if (httpServer) {
        const server = httpServer;
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      logger.info('sync server stopped');
    })();
    return stopped;
  };

  logger.info({ instanceId: config.instanceId, port, redis: Boolean(config.redisUrl) }, 'sync server started');
  return {
    name: 'sync-server',
    hocuspocus,
    ...(port === undefined ? {} : { port }),
    store,
    compact: (documentName: string) => persistence.compactNow(documentName),
    handleRequest,
    handleUpgrade,
    ready,
    stop,
  };
}
