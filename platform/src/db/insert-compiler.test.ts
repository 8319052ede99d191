import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from './database';
import { InsertCompiler } from './insert-compiler';

interface Tables {
  notes: { id: number; owner: string; body: Uint8Array };
}
type Note = Tables['notes'];

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function notesDatabase(): Promise<Database<Tables>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-insert-'));
  const database = openDatabase<Tables>({ dataDir });
  cleanups.push(async () => {
    await database.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  await database.db.schema
    .createTable('notes')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('body', 'blob', (c) => c.notNull())
    .execute();
  return database;
}

const note = (id: number): Note => ({ id, owner: `user-${id}`, body: new Uint8Array([id, id + 1]) });

describe('InsertCompiler', () => {
  it('compiles a row count once, then binds new rows to the same SQL, which stores exactly those rows', async () => {
    const database = await notesDatabase();
    let builds = 0;
    const inserts = new InsertCompiler<Note>(['id', 'owner', 'body'], (rows) => {
      builds += 1;
      return database.db.insertInto('notes').values(rows);
    });

    const first = inserts.compile([note(1), note(2)]);
    const second = inserts.compile([note(3), note(4)]);
    expect(builds).toBe(1);
    expect(second).toHaveLength(1);
    expect(second[0]!.sql).toBe(first[0]!.sql);
    expect(second[0]!.parameters).toEqual([3, 'user-3', note(3).body, 4, 'user-4', note(4).body]);

    for (const statement of [...first, ...second]) await database.db.executeQuery(statement);
    const stored = await database.db.selectFrom('notes').selectAll().orderBy('id').execute();
    expect(stored.map((row) => ({ ...row, body: new Uint8Array(row.body) }))).toEqual([1, 2, 3, 4].map(note));
  });

  it('cuts many rows into statements of at most rowsPerStatement, in order, so few shapes are ever compiled', async () => {
    const database = await notesDatabase();
    const shapes = new Set<string>();
    const inserts = new InsertCompiler<Note>(
      ['id', 'owner', 'body'],
      (rows) => database.db.insertInto('notes').values(rows),
      3,
    );

    const statements = inserts.compile([1, 2, 3, 4, 5, 6, 7].map(note));
    expect(statements.map((s) => s.parameters.length / 3)).toEqual([3, 3, 1]);
    for (const statement of statements) {
      shapes.add(statement.sql);
      await database.db.executeQuery(statement);
    }
    expect(shapes.size).toBe(2);
    const ids = await database.db.selectFrom('notes').select('id').orderBy('id').execute();
    expect(ids.map((row) => row.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(inserts.compile([])).toEqual([]);
  });

  it('refuses a shape whose parameters are not the rows’ values in column order (rather than store them shifted)', async () => {
    const database = await notesDatabase();
    const misordered = new InsertCompiler<Note>(['owner', 'id', 'body'], (rows) =>
      database.db.insertInto('notes').values(rows),
    );
    expect(() => misordered.compile([note(1)])).toThrow(/not the rows' values in column order/);

    const extraValue = new InsertCompiler<Note>(['id', 'owner', 'body'], (rows) =>
      database.db.insertInto('notes').values(rows.map((row) => ({ ...row, owner: 'someone else' }))),
    );
    expect(() => extraValue.compile([note(1)])).toThrow(/not the rows' values in column order/);
    expect(await database.db.selectFrom('notes').selectAll().execute()).toEqual([]);
  });
});
