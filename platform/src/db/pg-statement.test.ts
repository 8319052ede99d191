import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPostgres, needService } from '../testing';
import { type Database, openDatabase } from './database';
import { onePerTable, pgSingleStatement } from './pg-statement';

const insertA = CompiledQuery.raw('insert into "a" ("x", "y") values ($1, $2), ($3, $4)', [1, 'one', 2, 'two']);
const insertB = CompiledQuery.raw('insert into "b" ("z") values ($1)', ['zed']);
const deleteC = CompiledQuery.raw('delete from "c" where "id" in ($1, $2)', ['c1', 'c2']);

describe('pgSingleStatement', () => {
  it('makes each statement a CTE and renumbers the parameters after the first', () => {
    const combined = pgSingleStatement([insertA, insertB, deleteC]);
    expect(combined.sql).toBe(
      'with s0 as (insert into "a" ("x", "y") values ($1, $2), ($3, $4)), s1 as (insert into "b" ("z") values ($5)), ' +
        's2 as (delete from "c" where "id" in ($6, $7)) select 1',
    );
    expect(combined.parameters).toEqual([1, 'one', 2, 'two', 'zed', 'c1', 'c2']);
  });

  it('leaves a single statement as it is, and refuses none', () => {
    expect(pgSingleStatement([insertB])).toBe(insertB);
    expect(() => pgSingleStatement([])).toThrow(/no statements/);
  });

  it('onePerTable: true only when each statement writes a table of its own', () => {
    expect(onePerTable([insertA, insertB, deleteC])).toBe(true);
    expect(onePerTable([insertA, CompiledQuery.raw('insert into a (x, y) values ($1, $2)', [3, 'three'])])).toBe(false);
    expect(onePerTable([deleteC, deleteC])).toBe(false);
    // A statement it cannot read is not combined.
    expect(onePerTable([CompiledQuery.raw('select 1', [])])).toBe(false);
  });
});

const pg = await needService('postgres');

describe.skipIf(!pg)('pgSingleStatement on PostgreSQL', () => {
  let store: Awaited<ReturnType<typeof createTestPostgres>>;
  let database: Database<unknown>;

  beforeAll(async () => {
    store = await createTestPostgres();
    database = openDatabase<unknown>({ databaseUrl: store.url, dataDir: '.' });
    await sql`create table a (x integer primary key, y text not null)`.execute(database.db);
    await sql`create table b (z text primary key)`.execute(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await store?.drop();
  });

  const count = async (table: string) =>
    Number((await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(database.db)).rows[0]?.n);

  it('writes every table in one statement', async () => {
    await database.db.executeQuery(pgSingleStatement([insertA, insertB]));
    expect(await count('a')).toBe(2);
    expect(await count('b')).toBe(1);
  });

  it('keeps nothing when one part fails: it is one statement, so one transaction', async () => {
    const fresh = CompiledQuery.raw('insert into "a" ("x", "y") values ($1, $2)', [3, 'three']);
    // b's primary key "zed" is taken: the whole statement fails, and a's new row goes with it.
    await expect(database.db.executeQuery(pgSingleStatement([fresh, insertB]))).rejects.toThrow(/duplicate key/);
    expect(await count('a')).toBe(2);
    expect(await count('b')).toBe(1);
  });
});
