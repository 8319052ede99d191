import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestPostgres, needService } from '@confab/platform/testing';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asProcessEnv } from '../scripts/cluster/process';

/** scripts/backup.ts and scripts/restore.ts, run as an operator would. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function cli(
  script: 'backup' | 'restore',
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', `${script}.ts`), ...args], {
      cwd: ROOT,
      env: asProcessEnv({ PATH: process.env.PATH ?? '', ...env }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'confab-backup-test-'));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

const hasPostgres = await needService('postgres');

describe.skipIf(!hasPostgres)('backup and restore on PostgreSQL', () => {
  const dropAll: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const drop of dropAll) await drop();
  });

  async function database(): Promise<{ url: string; query: (sql: string) => Promise<unknown[]> }> {
    const db = await createTestPostgres();
    dropAll.push(db.drop);
    return {
      url: db.url,
      query: async (sql) => {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          return (await client.query(sql)).rows;
        } finally {
          await client.end();
        }
      },
    };
  }

  it('restores exactly the rows the backup saw, undoing what came after', async () => {
    const db = await database();
    await db.query('create table sync_updates (id serial primary key, doc text not null, bytes bytea not null)');
    await db.query(
      "insert into sync_updates (doc, bytes) select 'room:' || g, decode(md5(g::text), 'hex') from generate_series(1, 200) g",
    );
    const file = path.join(workDir, 'pg.dump');
    const made = await cli('backup', [file], { DATABASE_URL: db.url });
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    expect(made.stdout).toMatch(/backup of the postgres database written to .*pg\.dump \(\d+ bytes\)/);

    await db.query(
      "delete from sync_updates where id <= 50; insert into sync_updates (doc, bytes) values ('late', '\\x00')",
    );
    await db.query('create table added_later (x int)');

    const restored = await cli('restore', [file], { DATABASE_URL: db.url });
    expect(restored.code).toBe(0);
    const rows = (await db.query(
      'select count(*)::int as n, min(id) as lo, max(id) as hi from sync_updates',
    )) as Array<{
      n: number;
      lo: number;
      hi: number;
    }>;
    expect(rows[0]).toEqual({ n: 200, lo: 1, hi: 200 });
    expect(await db.query("select 1 from sync_updates where doc = 'late'")).toEqual([]);
    // The sequence comes back too: the next row does not collide with a restored one.
    expect(await db.query("insert into sync_updates (doc, bytes) values ('next', '\\x01') returning id")).toEqual([
      { id: 201 },
    ]);
  });

  it('restores into an empty database on a new server (disaster recovery)', async () => {
    const source = await database();
    await source.query(
      "create table auth_users (id text primary key, email text unique); insert into auth_users values ('u1', 'a@example.test')",
    );
    const file = path.join(workDir, 'dr.dump');
    expect((await cli('backup', [file], { DATABASE_URL: source.url })).code).toBe(0);
    const fresh = await database();
    expect((await cli('restore', [file], { DATABASE_URL: fresh.url })).code).toBe(0);
    expect(await fresh.query('select id, email from auth_users')).toEqual([{ id: 'u1', email: 'a@example.test' }]);
  });

  it('refuses a file that is not a backup, in one line, and leaves the database alone', async () => {
    const db = await database();
    await db.query("create table keep (v text); insert into keep values ('still here')");
    const bogus = path.join(workDir, 'not-a-dump');
    await writeFile(bogus, 'this is not a pg_dump archive');
    const result = await cli('restore', [bogus], { DATABASE_URL: db.url });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^restore failed: pg_restore exited with 1/);
    expect(await db.query('select v from keep')).toEqual([{ v: 'still here' }]);
  });
});

describe('backup and restore on SQLite (all-in-one)', () => {
  function openLive(dataDir: string): SQLite.Database {
    const db = new SQLite(path.join(dataDir, 'confab.db'));
    // As platform's openDatabase: WAL, so recent writes sit in confab.db-wal until a checkpoint.
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    return db;
  }

  it('takes a consistent copy while the process keeps writing, WAL included', async () => {
    const dataDir = await mkdtemp(path.join(workDir, 'live-'));
    const live = openLive(dataDir);
    live.exec('create table messages (id integer primary key, text text not null)');
    const insert = live.prepare('insert into messages (text) values (?)');
    for (let i = 0; i < 300; i++) insert.run(`message ${i}`);

    const file = path.join(workDir, 'sqlite.db');
    const made = await cli('backup', [file], { DATA_DIR: dataDir });
    expect(made.code).toBe(0);
    insert.run('after the backup');
    live.close();

    const restoredDir = await mkdtemp(path.join(workDir, 'restored-'));
    expect((await cli('restore', [file], { DATA_DIR: restoredDir })).code).toBe(0);
    const restored = new SQLite(path.join(restoredDir, 'confab.db'), { readonly: true });
    expect(restored.prepare('select count(*) as n from messages').get()).toEqual({ n: 300 });
    expect(restored.prepare("select 1 from messages where text = 'after the backup'").get()).toBeUndefined();
    restored.close();
  });

  it('does not replay the old write-ahead log onto the restored file', async () => {
    const dataDir = await mkdtemp(path.join(workDir, 'wal-'));
    const live = openLive(dataDir);
    live.exec("create table reads (v text); insert into reads values ('before')");
    const file = path.join(workDir, 'wal-backup.db');
    expect((await cli('backup', [file], { DATA_DIR: dataDir })).code).toBe(0);
    live.exec("insert into reads values ('after')");
    // A crash leaves the WAL (holding 'after') next to the file: keep a copy, close, put it back.
    const wal = path.join(dataDir, 'confab.db-wal');
    const staleWal = await readFile(wal);
    expect(staleWal.length).toBeGreaterThan(0);
    live.close();
    await writeFile(wal, staleWal);

    expect((await cli('restore', [file], { DATA_DIR: dataDir })).code).toBe(0);
    expect(existsSync(wal)).toBe(false);
    const restored = new SQLite(path.join(dataDir, 'confab.db'), { readonly: true });
    expect(restored.prepare('select v from reads').all()).toEqual([{ v: 'before' }]);
    restored.close();
  });

  it('refuses a corrupt backup and keeps the current database', async () => {
    const dataDir = await mkdtemp(path.join(workDir, 'keep-'));
    const live = openLive(dataDir);
    live.exec("create table t (v text); insert into t values ('current')");
    live.close();
    const corrupt = path.join(workDir, 'corrupt.db');
    await writeFile(corrupt, Buffer.alloc(8192, 7));
    const result = await cli('restore', [corrupt], { DATA_DIR: dataDir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^restore failed: .*corrupt\.db is not a SQLite database/);
    const db = new SQLite(path.join(dataDir, 'confab.db'), { readonly: true });
    expect(db.prepare('select v from t').all()).toEqual([{ v: 'current' }]);
    db.close();
  });

  it('names a bad DATABASE_URL in one line', async () => {
    const result = await cli('backup', [], { DATABASE_URL: 'mysql://nope' });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('backup failed: DATABASE_URL: must be a postgres:// URL\n');
  });
});
