import { CompiledQuery } from 'kysely';

/**
 * Most bind parameters one combined statement takes. PostgreSQL's protocol
 * allows 65,535; a batch that would need more runs as a transaction instead.
 */
export const PG_MAX_PARAMETERS = 32_767;

/**
 * Data-modifying PostgreSQL statements as one statement, each a
 * common table expression (`with s0 as (insert …), s1 as (insert …) select 1`):
 * one round trip, and atomic on its own (a statement outside a transaction is
 * its own transaction), where a Kysely transaction costs BEGIN, one round trip
 * per statement, and COMMIT. On the sync server's append path under load
 * (PostgreSQL, with the bus's events in the same commit) those five round
 * trips per group commit were about a tenth of the event loop's busy time.
 *
 * Every sub-statement runs to completion on the same snapshot, so none sees
 * another's rows, and PostgreSQL leaves the order of their effects open (two
 * inserts into one table could hand out their serial numbers in either order):
 * only for statements that each write a different table
 * (`onePerTable`). The parameters are renumbered (`$n` shifted by the
 * parameters before it), so a statement's text must hold no `$n` but its
 * parameters: true of what Kysely compiles, whose values are all bound.
 */
export function pgSingleStatement(queries: readonly CompiledQuery[]): CompiledQuery {
  if (queries.length === 0) throw new Error('pgSingleStatement: no statements');
  if (queries.length === 1) return queries[0]!;
  const parts: string[] = [];
  const parameters: unknown[] = [];
  for (const [i, query] of queries.entries()) {
    const offset = parameters.length;
    const text = offset === 0 ? query.sql : query.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
    parts.push(`s${i} as (${text})`);
    parameters.push(...query.parameters);
  }
  return CompiledQuery.raw(`with ${parts.join(', ')} select 1`, parameters);
}

const WRITTEN_TABLE = /^\s*(?:insert\s+into|delete\s+from|update)\s+("[^"]+"|\w+)/i;

/** True when each statement writes a table of its own, as `pgSingleStatement` needs; false for anything else. */
export function onePerTable(queries: readonly CompiledQuery[]): boolean {
  const tables = new Set<string>();
  for (const query of queries) {
    const table = WRITTEN_TABLE.exec(query.sql)?.[1]?.replaceAll('"', '');
    if (table === undefined || tables.has(table)) return false;
    tables.add(table);
  }
  return true;
}
