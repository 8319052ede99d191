import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createLogger,
  createOpsHandler,
  createRegistry,
  type Database,
  type EventBus,
  openDatabase,
} from '@confab/platform';
import type { Registry } from 'prom-client';
import { type AuthConfig, loadAuthConfig } from '../config';
import { type AuthServerHandle, startAuthServer } from '../server';
import { createMemoryBus, type MemoryBus } from './memory-bus';

export const TEST_PUBLIC_URL = 'http://chat.test:3000';
export const TEST_ORIGIN = 'http://chat.test:3000';
export const TEST_INTERNAL_TOKEN = 'internal-token-for-tests-0123456789';

/** A clock tests move by hand. */
export interface TestClock {
  (): number;
  set(ms: number): void;
  advance(ms: number): void;
}

export function testClock(startMs = Date.UTC(2026, 10, 26, 12, 0, 0)): TestClock {
  let now = startMs;
  const clock = (() => now) as TestClock;
  clock.set = (ms) => {
    now = ms;
  };
  clock.advance = (ms) => {
    now += ms;
  };
  return clock;
}

export interface TestAuthServer {
  url: string;
  handle: AuthServerHandle;
  bus: MemoryBus | EventBus;
  memoryBus: MemoryBus;
  clock: TestClock;
  config: AuthConfig;
  registry: Registry;
  // biome-ignore lint/suspicious/noExplicitAny: tests open the database untyped
  database: Database<any>;
  stop(): Promise<void>;
}

/**
 * A real auth server on port 0 (with /healthz, /readyz and /metrics as the
 * standalone main serves them) over SQLite in memory unless a database is given.
 */
export async function startTestAuthServer(
  options: {
    // biome-ignore lint/suspicious/noExplicitAny: see above
    database?: Database<any>;
    bus?: EventBus;
    clock?: TestClock;
    env?: Record<string, string>;
  } = {},
): Promise<TestAuthServer> {
  const config = loadAuthConfig({
    PUBLIC_URL: TEST_PUBLIC_URL,
    INTERNAL_API_TOKEN: TEST_INTERNAL_TOKEN,
    ...options.env,
  });
  const database = options.database ?? openDatabase({ dataDir: '.', sqliteFile: ':memory:' });
  const memoryBus = createMemoryBus();
  const bus = options.bus ?? memoryBus;
  const clock = options.clock ?? testClock(Date.now());
  const registry = createRegistry();
  const logger = createLogger({ name: 'auth-test', level: 'silent' });
  const handle = await startAuthServer({ config, logger, database, bus, registry, clock });
  const ops = createOpsHandler({ handles: () => [handle], registry });
  const server = http.createServer((req, res) => {
    if (!ops(req, res)) handle.handleRequest(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    handle,
    bus,
    memoryBus,
    clock,
    config,
    registry,
    database,
    async stop() {
      await handle.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (!options.database) await database.close();
    },
  };
}

/** A small JSON client for the tests: Bearer by default, or a cookie with the right Origin. */
export function apiClient(baseUrl: string) {
  return async function api(
    method: string,
    path: string,
    options: {
      body?: unknown;
      rawBody?: string;
      token?: string;
      cookie?: string;
      origin?: string | null;
      headers?: Record<string, string>;
    } = {},
    // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field in the tests
  ): Promise<{ status: number; body: any; headers: Headers }> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.cookie) headers.cookie = options.cookie;
    if (options.origin) headers.origin = options.origin;
    let body: string | undefined;
    if (options.rawBody !== undefined) body = options.rawBody;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(`${baseUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    return { status: response.status, body: parsed, headers: response.headers };
  };
}

let counter = 0;

/** Registers a fresh user and returns its Bearer token and id. */
export async function registerUser(
  api: ReturnType<typeof apiClient>,
  name = 'user',
): Promise<{ token: string; userId: string; email: string; password: string }> {
  counter++;
  const email = `${name}-${counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const password = 'correct horse battery';
  const res = await api('POST', '/api/auth/register', { body: { email, password, displayName: `${name} ${counter}` } });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { token: res.body.token, userId: res.body.user.id, email, password };
}
