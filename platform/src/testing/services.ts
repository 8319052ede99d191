import net from 'node:net';

/**
 * Real services the suites talk to. With CI=true a missing service fails the
 * run; on a laptop without it the suite is skipped with a one-line notice.
 */
export const SERVICES = {
  postgres: { url: process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', port: 5432 },
  nats: { url: process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222', port: 4222 },
  redis: { url: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', port: 6379 },
} as const;

export type ServiceName = keyof typeof SERVICES;

const reachable = new Map<ServiceName, Promise<boolean>>();

function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Resolves true when the service answers. In CI a missing service throws, so
 * the suite fails instead of silently skipping. Use with `describe.skipIf`:
 *
 *   const pg = await needService('postgres');
 *   describe.skipIf(!pg)('...', () => { ... });
 */
export async function needService(name: ServiceName): Promise<boolean> {
  let result = reachable.get(name);
  if (!result) {
    result = probe(SERVICES[name].port);
    reachable.set(name, result);
  }
  const ok = await result;
  if (!ok) {
    if (process.env.CI === 'true' || process.env.CI === '1') {
      throw new Error(`${name} is not reachable on 127.0.0.1:${SERVICES[name].port}, and CI requires it`);
    }
    console.warn(`skipping ${name} suite: ${name} is not running on 127.0.0.1:${SERVICES[name].port}`);
  }
  return ok;
}

/** A loopback port the OS says is free now (another process may still take it before the caller binds). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A short random suffix for per-run names (databases, streams, key prefixes). */
export function uniqueSuffix(): string {
  return `${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Polls `condition` until it returns a truthy value; throws with `message` after `timeoutMs`. */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  {
    timeoutMs = 5000,
    intervalMs = 20,
    message = 'condition',
  }: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
