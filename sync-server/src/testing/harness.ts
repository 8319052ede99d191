import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Database, type EventBus, openDatabase } from '@confab/platform';
import { createTestPostgres } from '@confab/platform/testing';
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import pino from 'pino';
import { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import * as Y from 'yjs';
import { loadSyncConfig } from '../config';
import { NO_CHANGES, type UpdateGuard } from '../extensions/guard-port';
import { type StartSyncServerOptions, type SyncServerHandle, startSyncServer } from '../server';
import { MemoryBus } from './memory-bus';
import { createTokenIssuer, type TokenClaims } from './tokens';

export const PUBLIC_URL = 'http://app.confab.test';

/** Lets every update through; for tests of the pipeline around the guard, never in production. */
export const passThroughGuard: UpdateGuard = {
  check: () => ({ ok: true, changes: NO_CHANGES }),
  filterAwareness: () => {},
};

export interface TestDatabase {
  database: Database<unknown>;
  close: () => Promise<void>;
}

export async function openTestDatabase(kind: 'sqlite' | 'postgres'): Promise<TestDatabase> {
  if (kind === 'postgres') {
    const pg = await createTestPostgres();
    const database = openDatabase<unknown>({ databaseUrl: pg.url, dataDir: '.' });
    return {
      database,
      close: async () => {
        await database.close();
        await pg.drop();
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-sync-'));
  const database = openDatabase<unknown>({ dataDir: dir });
  return {
    database,
    close: async () => {
      await database.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The texts of a document's `messages`, in order (the tests' messages are `{ text }` values). */
export function messageTexts(doc: Y.Doc): string[] {
  return doc
    .getArray<{ text: string }>('messages')
    .toArray()
    .map((m) => m.text);
}

/** The texts of `messageTexts`, from what the server has stored for the document (snapshot + log). */
export async function storedMessageTexts(t: Pick<TestServer, 'server'>, name: string): Promise<string[]> {
  const stored = await t.server.store.load(name);
  const doc = new Y.Doc();
  if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot);
  for (const update of stored.updates) Y.applyUpdate(doc, update);
  return messageTexts(doc);
}

export interface TestServerOptions {
  database?: TestDatabase;
  guard?: UpdateGuard;
  bus?: EventBus;
  env?: Record<string, string>;
  issuer?: Awaited<ReturnType<typeof createTokenIssuer>>;
  clock?: () => number;
  extra?: Partial<StartSyncServerOptions>;
}

export interface TestServer {
  server: SyncServerHandle;
  url: string;
  bus: EventBus;
  registry: Registry;
  db: TestDatabase;
  sign: (claims: TokenClaims) => Promise<string>;
  issuer: Awaited<ReturnType<typeof createTokenIssuer>>;
  connect: (options: ConnectOptions) => Promise<TestClient>;
  stop: () => Promise<void>;
}

export interface ConnectOptions {
  name: string;
  user: string;
  role?: 'owner' | 'member' | 'reader';
  sid?: string;
  token?: string;
  document?: Y.Doc;
  query?: string;
  /** Resolve once authenticated and synced (default true). */
  waitSynced?: boolean;
  /** The client's WebSocket class (default `ws`'s), e.g. one that loses some of what it sends. */
  WebSocketPolyfill?: typeof WebSocket;
}

export interface TestClient {
  doc: Y.Doc;
  provider: HocuspocusProvider;
  closes: Array<{ code: number; reason: string }>;
  /** Hocuspocus's per-document close messages (the socket stays open). */
  documentCloses: string[];
  authFailures: string[];
  /** Resolves when every local change has been acknowledged by the server. */
  acknowledged: () => Promise<void>;
  destroy: () => void;
}

export function connectClient(
  url: string,
  token: string | (() => Promise<string>),
  options: ConnectOptions,
): Promise<TestClient> {
  const doc = options.document ?? new Y.Doc();
  const closes: TestClient['closes'] = [];
  const authFailures: string[] = [];
  const documentCloses: string[] = [];
  const websocketProvider = new HocuspocusProviderWebsocket({
    url: `${url}?${options.query ?? 'protocolVersion=1'}`,
    WebSocketPolyfill: options.WebSocketPolyfill ?? WebSocket,
    // Reconnect fast: tests should not wait out the production backoff.
    delay: 50,
    minDelay: 50,
    maxDelay: 200,
    onClose: ({ event }) => closes.push({ code: event.code, reason: event.reason }),
  });
  const provider = new HocuspocusProvider({
    websocketProvider,
    name: options.name,
    token,
    document: doc,
    onAuthenticationFailed: ({ reason }) => authFailures.push(reason),
    onClose: ({ event }) => documentCloses.push(event.reason),
  });
  // A provider given its socket does not attach itself.
  provider.attach();
  const client: TestClient = {
    doc,
    provider,
    closes,
    documentCloses,
    authFailures,
    acknowledged: () =>
      new Promise<void>((resolve) => {
        if (!provider.hasUnsyncedChanges) return resolve();
        const onChange = ({ number }: { number: number }) => {
          if (number === 0) {
            provider.off('unsyncedChanges', onChange);
            resolve();
          }
        };
        provider.on('unsyncedChanges', onChange);
      }),
    destroy: () => {
      provider.destroy();
      websocketProvider.destroy();
    },
  };
  if (options.waitSynced === false) return Promise.resolve(client);
  return new Promise<TestClient>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.name}: not synced in time (${authFailures})`)), 10_000);
    provider.on('synced', () => {
      clearTimeout(timer);
      resolve(client);
    });
    provider.on('authenticationFailed', ({ reason }: { reason: string }) => {
      clearTimeout(timer);
      client.destroy();
      reject(new Error(`authentication failed: ${reason}`));
    });
  });
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const db = options.database ?? (await openTestDatabase('sqlite'));
  const bus = options.bus ?? new MemoryBus();
  const issuer = options.issuer ?? (await createTokenIssuer());
  const registry = new Registry();
  const config = loadSyncConfig({
    PORT: '0',
    PUBLIC_URL,
    SYNC_INSTANCE_ID: `test-${Math.random().toString(36).slice(2, 8)}`,
    ...options.env,
  });
  const server = await startSyncServer({
    config,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    database: db.database,
    bus,
    jwks: issuer.jwks,
    registry,
    ...('guard' in options ? (options.guard ? { guard: options.guard } : {}) : { guard: passThroughGuard }),
    listen: { port: 0, host: '127.0.0.1' },
    ...(options.clock ? { clock: options.clock } : {}),
    ...options.extra,
  });
  const url = `ws://127.0.0.1:${server.port}/sync`;
  const clients: TestClient[] = [];
  return {
    server,
    url,
    bus,
    registry,
    db,
    issuer,
    sign: issuer.sign,
    connect: async (o) => {
      const token = o.token ?? (await issuer.sign({ sub: o.user, doc: o.name, role: o.role ?? 'member', sid: o.sid }));
      const client = await connectClient(url, token, o);
      clients.push(client);
      return client;
    },
    stop: async () => {
      for (const c of clients) c.destroy();
      await server.stop();
    },
  };
}
