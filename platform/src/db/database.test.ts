import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from './database';
import { sqliteBatch } from './sqlite';

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
  it.each([
    ['a statement', (db: Database<Tables>) => db.db.insertInto('notes').values({ id: 2, owner: 'b' }).execute()],
    [
      'a batch (sqliteBatch)',
      (db: Database<Tables>) =>
        db.db.executeQuery(sqliteBatch([db.db.insertInto('notes').values({ id: 2, owner: 'b' }).compile()])),
    ],
  ])('keeps one caller’s writes (%s) out of another caller’s transaction on the same file', async (_, write) => {
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
    await write(b);

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

  it('writes in WAL mode, SQLite syncing at checkpoints (NORMAL) and the connection after every commit', async () => {
    const database = openDatabase<Tables>({ dataDir: tempDir() });
    const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(database.db);
    const sync = await sql<{ synchronous: number }>`pragma synchronous`.execute(database.db);
    expect(mode.rows[0]?.journal_mode).toBe('wal');
    // NORMAL: the commit's own fsync is the connection's fdatasync off the loop (sqlite.test.ts).
    expect(sync.rows[0]?.synchronous).toBe(1);
    await database.close();
  });

  it('keeps temporary files, statement journals included, in memory', async () => {
    const database = openDatabase<Tables>({ dataDir: tempDir() });
    const store = await sql<{ temp_store: number }>`pragma temp_store`.execute(database.db);
    expect(store.rows[0]?.temp_store).toBe(2); // MEMORY
    await database.close();
  });
});

describe('SQLite on a file', () => {
  it('reports SQLite errors with their code, and round-trips blobs as bytes', async () => {
    const db = openDatabase<{ t: { id: number; data: Uint8Array } }>({ dataDir: tempDir() });
    await db.db.schema
      .createTable('t')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('data', 'blob')
      .execute();
    await db.db
      .insertInto('t')
      .values({ id: 1, data: new Uint8Array([0, 1, 254, 255]) })
      .execute();
    await expect(db.db.insertInto('t').values({ id: 1, data: new Uint8Array() }).execute()).rejects.toMatchObject({
      code: 'SQLITE_CONSTRAINT_PRIMARYKEY',
    });
    const row = await db.db.selectFrom('t').selectAll().executeTakeFirstOrThrow();
    expect(row.data).toBeInstanceOf(Uint8Array);
    expect([...row.data]).toEqual([0, 1, 254, 255]);
    expect(await db.ping()).toBe(true);
    await db.close();
  });

  it('runs a batch of statements as one transaction: all of them, or none when one fails', async () => {
    const db = openDatabase<Tables>({ dataDir: tempDir() });
    await db.db.schema
      .createTable('notes')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('owner', 'text')
      .execute();
    const insert = (id: number, owner: string) => db.db.insertInto('notes').values({ id, owner }).compile();
    const result = await db.db.executeQuery(
      sqliteBatch([insert(1, 'a'), insert(2, 'b'), db.db.deleteFrom('notes').where('id', '=', 1).compile()]),
    );
    expect(result.numAffectedRows).toBe(3n);
    await expect(db.db.executeQuery(sqliteBatch([insert(3, 'c'), insert(2, 'again')]))).rejects.toMatchObject({
      code: 'SQLITE_CONSTRAINT_PRIMARYKEY',
    });
    expect(await db.db.selectFrom('notes').selectAll().execute()).toEqual([{ id: 2, owner: 'b' }]);
    await db.close();
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
