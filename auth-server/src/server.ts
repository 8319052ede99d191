import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createRegistry,
  type Database,
  type Directory,
  type EventBus,
  type Logger,
  migrate,
  type ServiceHandle,
  type SessionVerifier,
} from '@confab/platform';
import { getRequestListener } from '@hono/node-server';
import type { JWK } from 'jose';
import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import { createKyselyRepository } from './adapters/kysely-repository';
import { hashPassword } from './adapters/passwords';
import { AUTH_MIGRATIONS, type AuthTables } from './adapters/schema';
import { loadSigningKeys } from './adapters/signing-keys';
import type { AuthConfig } from './config';
import { createAuthCore, type SyncToken } from './core';
import { BUCKET_FULL_AFTER_MS } from './domain/throttle';
import { buildApp } from './http/app';
import { createAuthMetrics } from './metrics';
import type { AuthRepository } from './ports';

export interface StartAuthServerOptions {
  config: AuthConfig;
  logger: Logger;
  // biome-ignore lint/suspicious/noExplicitAny: the all-in-one opens one database for all services' tables
  database: Database<any>;
  bus: EventBus;
  /** Shared with the rest of the process in all-in-one mode; a private one otherwise. */
  registry?: Registry;
  /** Epoch ms; injected by tests for expiry, renewal and throttling. */
  clock?: () => number;
}

export interface AuthServerHandle extends ServiceHandle {
  readonly sessions: SessionVerifier;
  readonly directory: Directory;
  jwks(): Promise<{ keys: JWK[] }>;
  /**
   * Sync tokens for the documents the user may open, leaving out the others
   * (what POST /api/auth/sync-token does after the session check). For
   * in-process callers and the benchmark.
   */
  issueSyncTokens(userId: string, sessionId: string, documents: readonly string[]): Promise<Map<string, SyncToken>>;
}

/**
 * Expired sessions (also refused and removed when presented) and refilled
 * throttle buckets are swept this often, so neither table grows without bound.
 */
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Starts the auth service: migrates its tables, loads (or creates) the sync
 * token signing key and returns a handle whose handleRequest answers
 * `/api/auth/*`, `/api/rooms/*`, `/api/invites/*` and `/internal/*`. It does
 * not listen: the standalone main and the all-in-one route requests to it.
 * The database and bus belong to the caller, which closes them after stop().
 */
export async function startAuthServer(options: StartAuthServerOptions): Promise<AuthServerHandle> {
  const { config, bus } = options;
  const logger = options.logger.child({ service: 'auth' });
  const clock = options.clock ?? Date.now;
  const database = options.database as Database<AuthTables>;
  await migrate(database.db as unknown as Kysely<unknown>, 'auth', AUTH_MIGRATIONS);

  const repo = createKyselyRepository(database);
  const keys = await loadSigningKeys(repo, clock());
  const metrics = createAuthMetrics(options.registry ?? createRegistry());
  const core = createAuthCore({ repo, keys, bus, logger, metrics, clock });
  // Logins for unknown emails verify against this, so they take as long as real ones.
  const dummyPasswordHash = await hashPassword(`no such user ${crypto.randomUUID()}`);

  let stopped = false;
  const app = buildApp(
    {
      config,
      repo,
      core,
      metrics,
      logger,
      clock,
      dummyPasswordHash,
      jwks: () => keys.jwks(),
      isStopped: () => stopped,
    },
    { logger, metrics },
  );
  const listener = getRequestListener(app.fetch);

  const sweep = setInterval(() => {
    const now = clock();
    repo.deleteExpiredSessions(now).catch((err) => logger.warn({ err }, 'could not sweep expired sessions'));
    repo
      .deleteExpiredPasswordResets(now)
      .catch((err) => logger.warn({ err }, 'could not sweep expired password reset links'));
    repo
      .deleteStaleBuckets(now - BUCKET_FULL_AFTER_MS)
      .catch((err) => logger.warn({ err }, 'could not sweep throttle buckets'));
  }, SWEEP_INTERVAL_MS);
  sweep.unref();

  logger.info({ kid: keys.kid, database: database.kind }, 'auth server started');

  return {
    name: 'auth',
    handleRequest(req: IncomingMessage, res: ServerResponse) {
      void listener(req, res);
    },
    async ready() {
      if (stopped) return false;
      const [db, busOk] = await Promise.all([database.ping(), bus.healthy().catch(() => false)]);
      return db && busOk;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(sweep);
      logger.info('auth server stopped');
    },
    sessions: {
      async verify(credentials) {
        const auth = await core.authenticate(credentials);
        return auth.ok ? { userId: auth.userId, sessionId: auth.sessionId } : null;
      },
    },
    directory: createRepositoryDirectory(repo),
    jwks: async () => keys.jwks(),
    issueSyncTokens: (userId, sessionId, documents) => core.issueSyncTokens(userId, sessionId, documents),
  };
}

/** The Directory port in-process (all-in-one); the HTTP one in platform answers the same over /internal. */
function createRepositoryDirectory(repo: AuthRepository): Directory {
  return {
    async room(roomId) {
      const room = await repo.roomById(roomId);
      if (!room) return null;
      const members = await repo.members(roomId);
      return {
        id: room.id,
        name: room.name,
        members: members.map((m) => ({ id: m.userId, email: m.email, displayName: m.displayName, role: m.role })),
      };
    },
    async user(userId) {
      const user = await repo.userById(userId);
      return user ? { id: user.id, email: user.email, displayName: user.displayName } : null;
    },
    async roomIdsOf(userId) {
      return (await repo.roomsOf(userId)).map((r) => r.id);
    },
  };
}
