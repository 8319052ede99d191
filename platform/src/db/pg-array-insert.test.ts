import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestPostgres, needService } from '../testing';
import { type Database, openDatabase } from './database';
import { arrayLiteral, PgArrayInsert } from './pg-array-insert';

interface Note {
  id: string;
  owner: string;
  body: Uint8Array;
  at: number;
}

const COLUMNS = [
  ['id', 'text'],
  ['owner', 'text'],
  ['body', 'bytea'],
  ['at', 'bigint'],
] as const;

describe('PgArrayInsert', () => {
  it('binds one array per column, whatever the number of rows, with the same SQL', () => {
    const inserts = new PgArrayInsert<Note>('notes', COLUMNS, { onConflict: 'on conflict ("id") do nothing' });
    const one = inserts.compile([{ id: 'a', owner: 'x', body: new Uint8Array([1]), at: 1 }]);
    const three = inserts.compile(
      ['b', 'c', 'd'].map((id, i) => ({ id, owner: `o${i}`, body: new Uint8Array([i]), at: i })),
    );
    expect(one).toHaveLength(1);
    expect(three).toHaveLength(1);
    expect(three[0]!.sql).toBe(one[0]!.sql);
    expect(one[0]!.sql).toBe(
      'insert into "notes" ("id", "owner", "body", "at") select "id", "owner", "body", "at"' +
        ' from unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[]) with ordinality as "rows" ("id", "owner", "body", "at", "ordinality")' +
        ' order by "ordinality" on conflict ("id") do nothing',
    );
    // Each column as the text of a PostgreSQL array: text quoted, bytes as \\x and hex (the backslash escaped).
    expect(three[0]!.parameters).toEqual(['{"b","c","d"}', '{"o0","o1","o2"}', '{\\\\x00,\\\\x01,\\\\x02}', '{0,1,2}']);
    expect(inserts.compile([])).toEqual([]);
  });

  it('writes array elements as pg would: quotes and backslashes escaped, NULL for null, bytes in hex', () => {
    const rows = [
      { id: 'say "hi" \\ bye', owner: null, body: new Uint8Array([0, 255]), at: 2n ** 62n },
      { id: '', owner: 'NULL', body: Buffer.from('ab'), at: -1 },
    ];
    expect(arrayLiteral(rows, 'id', false)).toBe('{"say \\"hi\\" \\\\ bye",""}');
    expect(arrayLiteral(rows, 'owner', false)).toBe('{NULL,"NULL"}');
    expect(arrayLiteral(rows, 'body', true)).toBe('{\\\\x00ff,\\\\x6162}');
    expect(arrayLiteral(rows, 'at', false)).toBe('{4611686018427387904,-1}');
    // JSON would write a line break as \n and a lone surrogate as \ud800: those texts are escaped the long way.
    const awkward = [{ t: 'line\nbreak "q"\t' }, { t: 'lone \ud800 "s"' }, { t: 'emoji 😀 "e"' }];
    expect(arrayLiteral(awkward, 't', false)).toBe(
      '{"line\nbreak \\"q\\"\t","lone \ud800 \\"s\\"","emoji 😀 \\"e\\""}',
    );
    expect(() => arrayLiteral([{ at: new Date(0) }], 'at', false)).toThrow(/not text or a number/);
    expect(() => arrayLiteral([{ body: 'text' }], 'body', true)).toThrow(/needs bytes/);
  });

  it('refuses an identifier it would have to escape', () => {
    expect(() => new PgArrayInsert<Note>('notes"; drop table x; --', COLUMNS)).toThrow(/unexpected identifier/);
    expect(() => new PgArrayInsert<{ 'Bad Name': string }>('notes', [['Bad Name', 'text']])).toThrow(
      /unexpected identifier/,
    );
  });
});

const pg = await needService('postgres');

describe.skipIf(!pg)('PgArrayInsert on PostgreSQL', () => {
  let store: Awaited<ReturnType<typeof createTestPostgres>>;
  let database: Database<unknown>;

  beforeAll(async () => {
    store = await createTestPostgres();
    database = openDatabase<unknown>({ databaseUrl: store.url, dataDir: '.' });
  });
  afterAll(async () => {
    await database?.close();
    await store?.drop();
  });
  beforeEach(async () => {
    await sql`drop table if exists notes`.execute(database.db);
    await sql`create table notes (seq bigint generated always as identity primary key, id text not null unique,
      owner text not null, body bytea not null, at bigint not null)`.execute(database.db);
  });

  const stored = async () =>
    (
      await sql<{
        seq: string;
        id: string;
        owner: string;
        body: Buffer;
        at: string;
      }>`select * from notes order by seq`.execute(database.db)
    ).rows.map((r) => ({ id: r.id, owner: r.owner, body: new Uint8Array(r.body), at: Number(r.at) }));

  it('stores every row as given, numbering them in the order given', async () => {
    const awkward = [
      '',
      'a,b',
      '{braces}',
      '"quoted"',
      'back\\slash',
      'NULL',
      'null',
      ' spaced ',
      'é ✓ 😀',
      'line\nbreak',
      'tab\t"and quote"\u0001',
      JSON.stringify({ text: 'say "hi"\n\\o/', at: 1 }),
    ];
    const rows: Note[] = Array.from({ length: 700 }, (_, i) => ({
      // Ids that sort differently from the order given, so seq order is the only order that matches.
      id: `${(i * 7919) % 700}-${i}`,
      owner: awkward[i % awkward.length]!,
      body: i % 50 === 0 ? new Uint8Array(0) : Uint8Array.from({ length: 1 + (i % 300) }, (_, j) => (i + j * 31) % 256),
      at: 1_790_000_000_000 + i,
    }));
    const statements = new PgArrayInsert<Note>('notes', COLUMNS).compile(rows);
    expect(statements).toHaveLength(1);
    await database.db.executeQuery(statements[0]!);
    expect(await stored()).toEqual(rows);
  });

  it('applies the where condition and the conflict clause: a duplicate id, stored or in the same batch, is dropped', async () => {
    const inserts = new PgArrayInsert<Note>('notes', COLUMNS, {
      where: '(select pg_advisory_xact_lock(4242)) is not null',
      onConflict: 'on conflict ("id") do nothing',
    });
    const note = (id: string, owner: string): Note => ({ id, owner, body: new Uint8Array([1, 2]), at: 5 });
    await database.db.executeQuery(inserts.compile([note('a', 'first')])[0]!);
    await database.db.executeQuery(inserts.compile([note('b', 'second'), note('a', 'again'), note('b', 'twice')])[0]!);
    expect((await stored()).map((r) => [r.id, r.owner])).toEqual([
      ['a', 'first'],
      ['b', 'second'],
    ]);

    const never = new PgArrayInsert<Note>('notes', COLUMNS, { where: 'false' });
    await database.db.executeQuery(never.compile([note('c', 'filtered')])[0]!);
    expect(await stored()).toHaveLength(2);
  });
});
