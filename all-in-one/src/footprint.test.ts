import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestPostgres, needService } from '@confab/platform/testing';
import { afterAll, describe, expect, it } from 'vitest';

const packageDir = path.resolve(import.meta.dirname, '..');

/** The packages of the scaled-out backends: PostgreSQL, NATS, Redis. */
const OPTIONAL_BACKENDS = /node_modules\/(pg|ioredis|@nats-io\/[^/]+|@hocuspocus\/extension-redis)\//;

async function loadedModules(env: Record<string, string>): Promise<string[]> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-footprint-'));
  try {
    // The Node running the tests (the pinned one: registerHooks needs Node 22.15 or later), with tsx.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/fixtures/loaded-modules.ts', JSON.stringify({ DATA_DIR: dataDir, ...env })],
      { cwd: packageDir, maxBuffer: 16 * 1024 * 1024 },
    );
    return stdout.split('\n').filter(Boolean);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Which of OPTIONAL_BACKENDS the modules include, each package once. */
function backendsIn(modules: string[]): string[] {
  return [...new Set(modules.flatMap((url) => url.match(OPTIONAL_BACKENDS)?.[1] ?? []))];
}

describe('what the all-in-one loads', () => {
  it('on its defaults (SQLite, the in-process bus, no Redis) loads no PostgreSQL, NATS or Redis client', async () => {
    const modules = await loadedModules({});
    // The hook saw the app start: Kysely and the sync server's own files are there. (The SQLite
    // driver itself loads in its worker thread, which the hook does not see.)
    expect(modules.some((url) => url.includes('node_modules/kysely/'))).toBe(true);
    expect(modules.some((url) => url.includes('/sync-server/src/server.ts'))).toBe(true);
    expect(backendsIn(modules)).toEqual([]);
  }, 60_000);
});

const pg = await needService('postgres');
describe.skipIf(!pg)('what the all-in-one loads on PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof createTestPostgres>> | undefined;
  afterAll(async () => database?.drop());

  it('loads the pg driver once DATABASE_URL asks for it (the check above sees CommonJS modules)', async () => {
    database = await createTestPostgres();
    const modules = await loadedModules({ DATABASE_URL: database.url });
    expect(backendsIn(modules)).toEqual(['pg']);
  }, 60_000);
});
