import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, withStatementCache } from './database';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-db-'));
  dirs.push(dir);
  return dir;
}

interface Tables {
  notes: { id: number; owner: string };
}

describe('openDatabase on SQLite', () => {
  it('keeps one caller’s writes out of another caller’s transaction on the same file', async () => {
    const dataDir = tempDir();
    const a = openDatabase<Tables>({ dataDir });
    const b = openDatabase<Tables>({ dataDir });
    await a.db.schema
      .createTable('notes')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('owner', 'text')
      .execute();

    let inside!: () => void;
    const transactionOpen = new Promise<void>((resolve) => {
      inside = resolve;
    });
    const rolledBack = a.db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('notes').values({ id: 1, owner: 'a' }).execute();
        inside();
        // Give b every chance to write while a's transaction is open.
        await new Promise((r) => setTimeout(r, 50));
        throw new Error('a rolls back');
      })
      .catch((error: Error) => error.message);
    await transactionOpen;
    await b.db.insertInto('notes').values({ id: 2, owner: 'b' }).execute();

    expect(await rolledBack).toBe('a rolls back');
    const rows = await b.db.selectFrom('notes').selectAll().execute();
    expect(rows).toEqual([{ id: 2, owner: 'b' }]);
    await a.close();
    await b.close();
  });

  it('stays open until the last caller closes it', async () => {
    const dataDir = tempDir();
    const a = openDatabase<Tables>({ dataDir });
    const b = openDatabase<Tables>({ dataDir });
    await a.close();
    expect(await b.ping()).toBe(true);
    expect((await sql<{ one: number }>`select 1 as one`.execute(b.db)).rows).toEqual([{ one: 1 }]);
    await b.close();
    expect(await b.ping()).toBe(false);
  });

  it('writes in WAL mode with full synchronous commits', async () => {
    const database = openDatabase<Tables>({ dataDir: tempDir() });
    const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(database.db);
    const sync = await sql<{ synchronous: number }>`pragma synchronous`.execute(database.db);
    expect(mode.rows[0]?.journal_mode).toBe('wal');
    expect(sync.rows[0]?.synchronous).toBe(2);
    await database.close();
  });
});

describe('the SQLite statement cache', () => {
  it('prepares a statement once, keeps at most `size`, and drops the least recently used', () => {
    const sqlite = new SQLite(':memory:');
    const cached = withStatementCache(sqlite, 2);
    const one = cached.prepare('select 1 as n');
    expect(cached.prepare('select 1 as n')).toBe(one);
    const two = cached.prepare('select 2 as n');
    cached.prepare('select 1 as n'); // now the most recent
    cached.prepare('select 3 as n'); // evicts 'select 2'
    expect(cached.prepare('select 1 as n')).toBe(one);
    expect(cached.prepare('select 2 as n')).not.toBe(two);
    cached.close();
    expect(sqlite.open).toBe(false);
  });

  it('gives the current columns after a migration changed the table under a cached statement', async () => {
    const db = openDatabase<{ notes: { id: number; owner?: string } }>({ dataDir: tempDir() });
    await db.db.schema.createTable('notes').addColumn('id', 'integer').execute();
    await db.db.insertInto('notes').values({ id: 1 }).execute();
    expect(await db.db.selectFrom('notes').selectAll().execute()).toEqual([{ id: 1 }]);
    await db.db.schema.alterTable('notes').addColumn('owner', 'text').execute();
    expect(await db.db.selectFrom('notes').selectAll().execute()).toEqual([{ id: 1, owner: null }]);
    await db.close();
  });
});
