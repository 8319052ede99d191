/**
 * Latency of one server against another over every load both sustained.
 *
 * The p99 of a single 5-second step moves by 2× or more from one step to the
 * next on a 2-core machine shared with the load generators (a scheduling
 * hiccup of 20 ms in a step is 1% of its deliveries). The step at the highest
 * load every server sustained is still shown, but this is the steadier
 * figure: the ratio at each offered load that both servers sustained, and
 * the median and range of those ratios.
 */

export interface LatencyStep {
  readonly offeredDeliveriesPerSec: number;
  readonly sustained: boolean;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Median and range of some figures (ratios, or milliseconds). */
export interface RatioSpread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export interface LatencyAcrossLoads {
  /** The offered loads both sustained, ascending. */
  readonly loads: readonly number[];
  readonly p50: RatioSpread;
  readonly p99: RatioSpread;
}

/**
 * `subject` and `baseline` hold one step per offered load (the attempt that
 * stands for it). Null when they sustained no load in common, or a latency
 * is missing or zero where they did.
 */
export function latencyAcrossLoads(
  subject: readonly LatencyStep[],
  baseline: readonly LatencyStep[],
): LatencyAcrossLoads | null {
  const base = new Map(baseline.filter((s) => s.sustained).map((s) => [s.offeredDeliveriesPerSec, s]));
  const pairs = subject
    .filter((s) => s.sustained && base.has(s.offeredDeliveriesPerSec))
    .map((s) => [s, base.get(s.offeredDeliveriesPerSec) as LatencyStep] as const)
    .sort(([a], [b]) => a.offeredDeliveriesPerSec - b.offeredDeliveriesPerSec);
  const valid = pairs.every(([s, b]) => [s.p50Ms, s.p99Ms, b.p50Ms, b.p99Ms].every((v) => Number.isFinite(v) && v > 0));
  if (pairs.length === 0 || !valid) return null;
  return {
    loads: pairs.map(([s]) => s.offeredDeliveriesPerSec),
    p50: spread(pairs.map(([s, b]) => s.p50Ms / b.p50Ms)),
    p99: spread(pairs.map(([s, b]) => s.p99Ms / b.p99Ms)),
  };
}

/** The median, least and greatest of some values (an empty list has none: NaN). */
export function spread(values: readonly number[]): RatioSpread {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median =
    sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number };
}
