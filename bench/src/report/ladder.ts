/**
 * "What each feature costs": the fan-out figures of the feature ladder, each
 * rung compared with bare Hocuspocus and with the rung it differs from by one
 * feature. Read from one run's lines of one scenario.
 */

// biome-ignore lint/suspicious/noExplicitAny: heterogeneous JSON records, read defensively
type Line = Record<string, any>;

interface Rung {
  server: string;
  label: string;
  /** The rung this one differs from by the feature named in `adds`. */
  from: string | null;
  adds: string;
  /** The change from `from`, for the summary's one line. */
  short: string;
}

/**
 * Two paths from full Confab, because a rung can only take one thing out:
 * up from bare Hocuspocus by adding the guard, then the bus; and from full
 * Confab to its storage in memory (the cost of durable commits) or on PostgreSQL.
 */
export const RUNGS: Rung[] = [
  {
    server: 'hocuspocus',
    label: 'bare Hocuspocus',
    from: null,
    adds: 'Relays each update from memory: no auth, no checks, no storage.',
    short: 'bare',
  },
  {
    server: 'confab-noguard',
    label: 'Confab, pass-through guard',
    from: 'hocuspocus',
    adds: 'Adds the sync token check per connection, the rate limiter, presence and the durable append (SQLite on disk, WAL, each commit synced before it is answered) before the acknowledgement; the guard lets every update through unread, so no message events either.',
    short: '+ token, rate limit, presence, durable SQLite append',
  },
  {
    server: 'confab-nobus',
    label: 'Confab, silent bus',
    from: 'confab-noguard',
    adds: "Adds the room schema v1 guard on every update and the message events it implies, written to the outbox in the append's transaction and removed once published; the bus's publish drops them.",
    short: '+ guard and message events',
  },
  {
    server: 'confab',
    label: 'Confab (full, SQLite)',
    from: 'confab-nobus',
    adds: "Adds the in-process durable bus on the same database: the events are committed into the bus's table in the append's own transaction (the outbox and its relay drop out).",
    short: '+ durable in-process bus (full Confab)',
  },
  {
    server: 'confab-mem',
    label: 'Confab, SQLite in memory',
    from: 'confab',
    adds: "Full Confab with the database in memory: no file and no fsync'd commit, so the ratio to full Confab (read it inverted) is what durable commits cost.",
    short: 'full Confab with SQLite in memory (no fsync)',
  },
  {
    server: 'confab-pg',
    label: 'Confab (full, PostgreSQL)',
    from: 'confab',
    adds: 'Full Confab with PostgreSQL (local server) instead of SQLite.',
    short: 'full Confab on PostgreSQL',
  },
];

const fmt = (v: unknown, digits = 0): string =>
  typeof v === 'number' && Number.isFinite(v)
    ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })
    : '–';
const times = (a: unknown, b: unknown): string =>
  typeof a === 'number' && typeof b === 'number' && b > 0 && a > 0 ? `${(a / b).toFixed(2)}×` : '–';

/** The table for one scenario, or '' when the run has fewer than two of the Confab rungs. */
export function ladderTable(rows: Line[]): string {
  const rungs = RUNGS.filter((r) => rows.some((l) => l.server === r.server && l.kind === 'summary'));
  if (
    rungs.filter((r) => r.server !== 'hocuspocus' && r.server !== 'confab' && r.server !== 'confab-pg').length === 0
  ) {
    return '';
  }
  const summary = (s: string) => rows.find((l) => l.server === s && l.kind === 'summary');
  // The later attempt of a retried rate stands for it, as in the step table.
  const step = (s: string, rate: number) =>
    rows.filter((l) => l.server === s && l.kind === 'step' && l.offeredDeliveriesPerSec === rate).at(-1);
  const sustainedRates = (s: string) =>
    new Set(
      rows
        .filter((l) => l.server === s && l.kind === 'step')
        .filter((l) => step(s, l.offeredDeliveriesPerSec)?.sustained)
        .map((l) => l.offeredDeliveriesPerSec as number),
    );
  const first = rungs[0];
  const common = first
    ? [...sustainedRates(first.server)].filter((r) => rungs.every((x) => sustainedRates(x.server).has(r)))
    : [];
  const at = common.length > 0 ? Math.max(...common) : null;
  const cpu = (s: string | null) => (s && at !== null ? step(s, at)?.serverCpuUsPerDelivery : undefined);
  const max = (s: string | null) => (s ? summary(s)?.maxSustainedDeliveriesPerSec : undefined);
  const label = (s: string | null) => RUNGS.find((r) => r.server === s)?.label ?? s ?? '';
  const out = [
    '#### What each feature costs',
    '',
    `Each rung is a real server process under the same Confab workload; each is compared with bare Hocuspocus and with the rung it differs from by one feature ("compared with"). CPU is at ${at === null ? 'no common load (no rate was sustained by every rung: see the step table)' : `${fmt(at)} deliveries/s offered, the highest load every rung sustained`}. A sustained figure marked + never saturated (the sweep ended first); the sweep's rates are up to 2× apart and the gap where a server saturates is bisected twice, so the max column cannot show a difference much under 1.2×: the CPU column can.`,
    '',
    '| rung | compared with | max sustained deliveries/s | vs bare | vs compared | server CPU µs/delivery | vs bare | vs compared | what it adds |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rungs) {
    const s = summary(r.server);
    const from = r.from && rungs.some((x) => x.server === r.from) ? r.from : null;
    out.push(
      `| ${r.label} | ${from ? label(from) : '–'} | ${fmt(max(r.server))}${s?.sweepCeilingReached ? '+' : ''} | ${times(max(r.server), max('hocuspocus'))} | ${from ? times(max(r.server), max(from)) : '–'} | ${fmt(cpu(r.server), 1)} | ${times(cpu(r.server), cpu('hocuspocus'))} | ${from ? times(cpu(r.server), cpu(from)) : '–'} | ${r.adds} |`,
    );
  }
  out.push('');
  return out.join('\n');
}

/** One line for the report's summary: each rung's max sustained rate as a multiple of the rung it is compared with. */
export function ladderSummary(rows: Line[]): string {
  if (!ladderTable(rows)) return '';
  const max = (s: string | null) =>
    rows.find((l) => l.server === s && l.kind === 'summary')?.maxSustainedDeliveriesPerSec as number | undefined;
  const parts = RUNGS.filter((r) => r.from && max(r.server) !== undefined && max(r.from) !== undefined).map(
    (r) => `${r.short} ${times(max(r.server), max(r.from))}`,
  );
  if (parts.length === 0) return '';
  return `What each feature costs, max sustained as a multiple of the rung before (CPU per delivery in the section below): ${parts.join('; ')}`;
}

/** The ladder's Confab variants this scenario ran, for the step table. */
export function ladderOnlyServers(rows: Line[]): string[] {
  return ['confab-noguard', 'confab-nobus', 'confab-mem'].filter((s) => rows.some((l) => l.server === s));
}
