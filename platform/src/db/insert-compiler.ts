import { type Compilable, CompiledQuery } from 'kysely';

/** Rows one compiled statement takes at most; more rows become several statements. */
export const DEFAULT_ROWS_PER_STATEMENT = 64;

/**
 * A multi-row INSERT of one fixed shape, compiled by Kysely once per row
 * count and then reused with new parameters.
 *
 * The SQL of `insert into t (a, b) values (?, ?), (?, ?) …` depends only on the
 * table, the columns and how many rows there are; building and compiling the
 * Kysely query (an operation-node tree, frozen, then visited) cost more than
 * the rest of the sync server's append path on the event loop. Rows are cut
 * into statements of at most `rowsPerStatement`, so there are at most that
 * many shapes to keep (here, and in the SQLite connection's statement cache),
 * however the group commits' sizes vary. The parameters are the rows' values,
 * row after row, in `columns` order: what Kysely emits for rows whose keys are
 * exactly `columns`, which the first compilation of each shape checks (a
 * mismatch is a bug in the caller, and throws).
 */
export class InsertCompiler<Row extends object> {
  private readonly sqlByRows = new Map<number, string>();

  /**
   * @param columns every key of a row, in the order `build` writes them.
   * @param build the Kysely query for these rows (it must bind no values but the rows').
   */
  constructor(
    private readonly columns: ReadonlyArray<keyof Row & string>,
    private readonly build: (rows: Row[]) => Compilable,
    private readonly rowsPerStatement = DEFAULT_ROWS_PER_STATEMENT,
  ) {}

  /** The statements inserting `rows`, in order; none for no rows. */
  compile(rows: readonly Row[]): CompiledQuery[] {
    const statements: CompiledQuery[] = [];
    for (let start = 0; start < rows.length; start += this.rowsPerStatement) {
      statements.push(this.compileChunk(rows.slice(start, start + this.rowsPerStatement)));
    }
    return statements;
  }

  private compileChunk(rows: Row[]): CompiledQuery {
    const parameters: unknown[] = [];
    for (const row of rows) for (const column of this.columns) parameters.push(row[column]);
    const cached = this.sqlByRows.get(rows.length);
    if (cached !== undefined) return CompiledQuery.raw(cached, parameters);

    const compiled = this.build(rows).compile();
    if (!sameValues(compiled.parameters, parameters)) {
      throw new Error(`InsertCompiler: the parameters of ${compiled.sql} are not the rows' values in column order`);
    }
    this.sqlByRows.set(rows.length, compiled.sql);
    return compiled;
  }
}

function sameValues(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((value, i) => Object.is(value, b[i]));
}
