import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CHECKPOINT_EVERY_COMMITS,
  SqliteConnection,
  type SqliteConnectionOptions,
  SqliteDurableDialect,
  SqliteError,
  sqliteBatch,
} from './sqlite';

interface Tables {
  notes: { id: number; owner: string };
}

const open: Array<Kysely<Tables>> = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.destroy().catch(() => {});
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

type Sync = (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => void;

/** A database file whose connection syncs through `fdatasync`, with the notes table created. */
async function database(fdatasync: Sync = fs.fdatasync, options: SqliteConnectionOptions = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-sqlite-'));
  dirs.push(dir);
  const file = path.join(dir, 'test.db');
  const connection = new SqliteConnection(file, { fdatasync, ...options });
  const db = new Kysely<Tables>({ dialect: new SqliteDurableDialect(connection) });
  open.push(db);
  await db.schema
    .createTable('notes')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('owner', 'text')
    .execute();
  return { db, file, connection };
}

/** A second connection to the file, as another thread's would be. */
function secondConnection(file: string): SQLite.Database {
  const other = new SQLite(file);
  seconds.push(other);
  return other;
}
const seconds: SQLite.Database[] = [];
afterEach(() => {
  for (const other of seconds.splice(0)) if (other.open) other.close();
});

/** An fdatasync that, once `hold` is set, records its calls and completes each only when the test lets it. */
function heldSync() {
  const held = {
    hold: false,
    calls: [] as Array<{ fd: number; release: () => void }>,
    fdatasync: ((fd, callback) => {
      if (!held.hold) return fs.fdatasync(fd, callback);
      held.calls.push({ fd, release: () => fs.fdatasync(fd, callback) });
    }) as Sync,
  };
  return held;
}

const settled = (promise: Promise<unknown>) => {
  let done = false;
  promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  return () => done;
};
const turn = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('SqliteConnection', () => {
  it('answers a commit only once an fdatasync of the WAL file has completed', async () => {
    const sync = heldSync();
    const { db, file } = await database(sync.fdatasync);
    sync.hold = true;

    const write = db.executeQuery(sqliteBatch([db.insertInto('notes').values({ id: 1, owner: 'a' }).compile()]));
    const written = settled(write);
    await turn();
    expect(written()).toBe(false);
    expect(sync.calls).toHaveLength(1);
    // The descriptor synced is the WAL's: the file SQLite committed into.
    expect(fs.fstatSync(sync.calls[0]?.fd as number).ino).toBe(fs.statSync(`${file}-wal`).ino);

    // Nobody reads the commit before it is durable: the connection is held until the sync completes.
    const read = db.selectFrom('notes').selectAll().execute();
    const readDone = settled(read);
    await turn();
    expect(readDone()).toBe(false);

    sync.calls[0]?.release();
    await write;
    expect(await read).toEqual([{ id: 1, owner: 'a' }]);
  });

  it('syncs at the COMMIT of a transaction that wrote and for a lone write, not for its statements or for reads', async () => {
    let syncs = 0;
    const { db } = await database((fd, callback) => {
      syncs++;
      fs.fdatasync(fd, callback);
    });
    syncs = 0;
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('notes').values({ id: 1, owner: 'a' }).execute();
      await trx.insertInto('notes').values({ id: 2, owner: 'b' }).execute();
      expect(syncs).toBe(0);
    });
    expect(syncs).toBe(1);
    await db.insertInto('notes').values({ id: 3, owner: 'c' }).execute();
    expect(syncs).toBe(2);
    expect(await db.selectFrom('notes').select('id').execute()).toHaveLength(3);
    expect(syncs).toBe(2);
    // A transaction that only reads (a room's load) has nothing to sync.
    await db.transaction().execute(async (trx) => {
      expect(await trx.selectFrom('notes').select('id').execute()).toHaveLength(3);
    });
    expect(syncs).toBe(2);
  });

  it('refuses everything once an fdatasync has failed, since a later one that succeeds proves nothing', async () => {
    let fail = false;
    const { db } = await database((fd, callback) => {
      if (!fail) return fs.fdatasync(fd, callback);
      callback(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    });
    fail = true;
    await expect(db.insertInto('notes').values({ id: 1, owner: 'a' }).execute()).rejects.toMatchObject({
      name: 'SqliteError',
      code: 'EIO',
    });
    fail = false;
    await expect(db.selectFrom('notes').selectAll().execute()).rejects.toBeInstanceOf(SqliteError);
    await expect(
      db.executeQuery(sqliteBatch([db.insertInto('notes').values({ id: 2, owner: 'b' }).compile()])),
    ).rejects.toThrow(/could not be synced/);
  });

  it('keeps a failed batch out entirely and goes on serving', async () => {
    const { db } = await database();
    await db.insertInto('notes').values({ id: 1, owner: 'a' }).execute();
    const insert = (id: number, owner: string) => db.insertInto('notes').values({ id, owner }).compile();
    await expect(db.executeQuery(sqliteBatch([insert(2, 'b'), insert(1, 'again')]))).rejects.toMatchObject({
      code: 'SQLITE_CONSTRAINT_PRIMARYKEY',
    });
    expect(await db.selectFrom('notes').select('id').execute()).toEqual([{ id: 1 }]);
  });

  it('leaves everything in the database file when it closes', async () => {
    const { db, file } = await database();
    await db.insertInto('notes').values({ id: 1, owner: 'a' }).execute();
    await db.destroy();
    // The closing checkpoint moved the WAL into the file and removed it.
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    const again = new Kysely<Tables>({ dialect: new SqliteDurableDialect(new SqliteConnection(file)) });
    open.push(again);
    expect(await again.selectFrom('notes').selectAll().execute()).toEqual([{ id: 1, owner: 'a' }]);
    expect((await sql<{ n: number }>`select count(*) as n from notes`.execute(again)).rows[0]?.n).toBe(1);
  });

  describe('beside a second connection that writes', () => {
    it('waits off the loop while the other holds the write lock, then commits', async () => {
      const { db, file, connection } = await database();
      const other = secondConnection(file);
      other.exec('BEGIN IMMEDIATE');
      const write = db.insertInto('notes').values({ id: 1, owner: 'a' }).execute();
      const written = settled(write);
      // The loop is free meanwhile: timers run, and the write keeps trying.
      await turn();
      expect(written()).toBe(false);
      expect(connection.busyRetries).toBeGreaterThan(0);
      other.exec('COMMIT');
      await write;
      expect(await db.selectFrom('notes').selectAll().execute()).toEqual([{ id: 1, owner: 'a' }]);
    });

    it('retries a whole batch and a transaction (which takes the lock at BEGIN)', async () => {
      const { db, file } = await database();
      const other = secondConnection(file);
      other.exec('BEGIN IMMEDIATE');
      const batch = db.executeQuery(sqliteBatch([db.insertInto('notes').values({ id: 1, owner: 'a' }).compile()]));
      const transaction = db.transaction().execute(async (trx) => {
        await trx.insertInto('notes').values({ id: 2, owner: 'b' }).execute();
      });
      const both = settled(Promise.all([batch, transaction]));
      await turn();
      expect(both()).toBe(false);
      other.exec('COMMIT');
      await Promise.all([batch, transaction]);
      expect(await db.selectFrom('notes').select('id').orderBy('id').execute()).toEqual([{ id: 1 }, { id: 2 }]);
    });

    it('reads while the other writes, without waiting for it', async () => {
      const { db, file, connection } = await database();
      await db.insertInto('notes').values({ id: 1, owner: 'a' }).execute();
      const other = secondConnection(file);
      other.exec('BEGIN IMMEDIATE');
      other.prepare('INSERT INTO notes (id, owner) VALUES (2, ?)').run('uncommitted');
      expect(await db.selectFrom('notes').select('id').execute()).toEqual([{ id: 1 }]);
      expect(connection.busyRetries).toBe(0);
      other.exec('ROLLBACK');
    });

    it('gives up with SQLITE_BUSY after the busy timeout, keeping nothing, and goes on serving', async () => {
      const { db, file } = await database(fs.fdatasync, { busyTimeoutMs: 50 });
      const other = secondConnection(file);
      other.exec('BEGIN IMMEDIATE');
      await expect(db.insertInto('notes').values({ id: 1, owner: 'a' }).execute()).rejects.toMatchObject({
        name: 'SqliteError',
        code: 'SQLITE_BUSY',
      });
      other.exec('ROLLBACK');
      expect(await db.selectFrom('notes').selectAll().execute()).toEqual([]);
      await db.insertInto('notes').values({ id: 2, owner: 'b' }).execute();
      expect(await db.selectFrom('notes').select('id').execute()).toEqual([{ id: 2 }]);
    });
  });

  describe('checkpoints handed to another connection', () => {
    /** Frames in the WAL now, as a second connection's no-op-free PASSIVE checkpoint reports them. */
    const walFrames = (file: string) =>
      (secondConnection(file).pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>)[0]?.log ?? 0;
    const bigRow = (id: number) => ({ id, owner: 'x'.repeat(16_000) });

    it('asks the delegate every CHECKPOINT_EVERY_COMMITS commits and never checkpoints itself', async () => {
      const { db, file, connection } = await database();
      const dbFile = fs.statSync(file).size;
      let asked = 0;
      connection.delegateCheckpoints(async () => {
        asked++;
      });
      for (let id = 1; id <= CHECKPOINT_EVERY_COMMITS + 10; id++)
        await db.insertInto('notes').values(bigRow(id)).execute();
      expect(asked).toBe(1);
      expect(connection.checkpoints).toEqual({ delegated: 1, onLoop: 0 });
      // Over 1,000 pages written and none copied into the file: SQLite's own autocheckpoint is off.
      expect(fs.statSync(file).size).toBe(dbFile);
      expect(walFrames(file)).toBeGreaterThan(1_000);
    });

    it('checkpoints on its own when the delegate fails, so the WAL cannot grow without bound', async () => {
      const { db, file, connection } = await database();
      const dbFile = fs.statSync(file).size;
      let asked = 0;
      connection.delegateCheckpoints(async () => {
        asked++;
        throw new Error('the checkpoint thread is gone');
      });
      for (let id = 1; id <= CHECKPOINT_EVERY_COMMITS; id++) await db.insertInto('notes').values(bigRow(id)).execute();
      await turn();
      expect(asked).toBe(1);
      // The pages reached the database file: the connection's own PASSIVE checkpoint ran.
      expect(fs.statSync(file).size).toBeGreaterThan(dbFile + CHECKPOINT_EVERY_COMMITS * 16_000);
      expect(connection.checkpoints).toEqual({ delegated: 1, onLoop: 1 });
    });

    it('takes checkpoints back: SQLite checkpoints every 1,000 pages again', async () => {
      const { db, file, connection } = await database();
      const dbFile = fs.statSync(file).size;
      const takeBack = connection.delegateCheckpoints(async () => {});
      takeBack();
      for (let id = 1; id <= 300; id++) await db.insertInto('notes').values(bigRow(id)).execute();
      expect(fs.statSync(file).size).toBeGreaterThan(dbFile);
    });
  });
});
