/**
 * What the per-service scripts (`bench/<name>.ts`) share: the pass's mode from
 * BENCH_MODE and the one line shape the report turns into a table.
 */
export type BenchMode = 'smoke' | 'quick' | 'full';

const MODES: readonly BenchMode[] = ['smoke', 'quick', 'full'];

/**
 * BENCH_MODE as the harness sets it; a script started by hand (no BENCH_MODE)
 * runs the quick set. An unknown value is a mistake, not a reason to run the
 * 40-minute set, so it throws.
 */
export function benchMode(env: NodeJS.ProcessEnv = process.env): BenchMode {
  const value = env.BENCH_MODE;
  if (value === undefined || value === '') return 'quick';
  if ((MODES as readonly string[]).includes(value)) return value as BenchMode;
  throw new Error(`BENCH_MODE must be one of ${MODES.join(', ')}, got "${value}"`);
}

/** The value for the current mode: `byMode({ smoke: 1, quick: 5, full: 60 })`. */
export function byMode<T>(values: Record<BenchMode, T>, mode: BenchMode = benchMode()): T {
  return values[mode];
}

/**
 * One measured figure next to the in-run baseline it is compared with. The
 * report shows every such line of a script as a row of its table, so a
 * script says what it compares instead of the report knowing each script.
 */
export interface Comparison {
  /** The scenario, e.g. `room of 100k messages`. */
  case: string;
  /** What was measured, e.g. `append check`. */
  metric: string;
  unit: string;
  /** The subject's figure (Confab's way). */
  subject: string;
  value: number;
  /** What it is compared with, measured in the same run. */
  baseline: string;
  baselineValue: number;
  /** Which direction is better, so the report can say whether the ratio is a win. */
  better: 'higher' | 'lower';
}

export interface ComparisonLine extends Comparison {
  bench: string;
  kind: 'comparison';
  mode: BenchMode;
  /** value ÷ baselineValue; null when the baseline is 0. */
  ratio: number | null;
}

export function comparisonLine(bench: string, comparison: Comparison, mode: BenchMode = benchMode()): ComparisonLine {
  const ratio =
    comparison.baselineValue === 0 ? null : Number((comparison.value / comparison.baselineValue).toPrecision(4));
  return { bench, kind: 'comparison', mode, ...comparison, ratio };
}

/** Prints a comparison as one JSON line on stdout (the harness keeps stdout's JSON lines). */
export function printComparison(bench: string, comparison: Comparison): void {
  process.stdout.write(`${JSON.stringify(comparisonLine(bench, comparison))}\n`);
}
