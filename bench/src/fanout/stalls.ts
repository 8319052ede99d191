/**
 * What held a server's event loop during the held loads (BENCH_STALLS, see bench/README.md).
 *
 * The server child records every gap of at least STALL_MS between two ticks of a 1 ms timer (the
 * loop ran one task that long, or the thread waited for a CPU), every garbage collection, and, each
 * time the orchestrator asks for stats (before and after every step), the time and the main
 * thread's `/proc` schedstat: nanoseconds on a CPU, nanoseconds runnable but waiting for one, and
 * time slices. Times are µs of the monotonic clock, which is also the clock of V8's CPU profiles
 * (BENCH_CPU_PROF), so a stall can be matched with the samples inside it.
 *
 * `summarizeSteps` turns one record into a line per step: `npx tsx bench/stalls.ts <dir>`.
 */

/** The shortest gap between two 1 ms ticks recorded as a stall. */
export const STALL_MS = 5;

export interface StallRecord {
  stalls: Array<{ startUs: number; durationMs: number }>;
  /** `kind` as Node's `gc` performance entries give it (perf_hooks.constants): 1 minor (scavenge), 4 major (mark-compact), 8 incremental marking, 16 weak callbacks. */
  collections: Array<{ startUs: number; durationMs: number; kind: number }>;
  marks: number[];
  /** Per mark: [run ns, wait ns, slices], or [] where /proc is not there. */
  schedule: number[][];
}

export interface StepSummary {
  seconds: number;
  stalls: number;
  stallMs: number;
  /** The stalls of 8 ms and more, longest first, each with the collections inside it. */
  longStalls: Array<{ ms: number; collections: Array<{ kind: number; ms: number }> }>;
  minor: number;
  minorMs: number;
  major: number;
  majorMs: number;
  maxCollectionMs: number;
  /** The main thread's time on a CPU and waiting for one (runnable, not running), in ms; absent without /proc. */
  runMs?: number;
  waitMs?: number;
}

const LONG_STALL_MS = 8;

const round = (x: number): number => Math.round(x * 10) / 10;

/**
 * One summary per interval between consecutive marks that lasts from `minSeconds` to `maxSeconds`
 * (a held step; the orchestrator's other stats requests, such as waiting for the server to idle,
 * leave shorter or longer gaps).
 */
export function summarizeSteps(record: StallRecord, minSeconds: number, maxSeconds: number): StepSummary[] {
  const steps: StepSummary[] = [];
  for (let i = 1; i < record.marks.length; i++) {
    const from = record.marks[i - 1] as number;
    const to = record.marks[i] as number;
    const seconds = (to - from) / 1e6;
    if (seconds < minSeconds || seconds > maxSeconds) continue;
    const within = <T extends { startUs: number }>(xs: T[]) => xs.filter((x) => x.startUs >= from && x.startUs < to);
    const stalls = within(record.stalls);
    const collections = within(record.collections);
    const minor = collections.filter((c) => c.kind === 1);
    const major = collections.filter((c) => c.kind === 4);
    const sum = (xs: Array<{ durationMs: number }>) => round(xs.reduce((a, x) => a + x.durationMs, 0));
    const summary: StepSummary = {
      seconds: round(seconds),
      stalls: stalls.length,
      stallMs: sum(stalls),
      longStalls: stalls
        .filter((s) => s.durationMs >= LONG_STALL_MS)
        .sort((a, b) => b.durationMs - a.durationMs)
        .map((s) => {
          const end = s.startUs + s.durationMs * 1000;
          return {
            ms: round(s.durationMs),
            collections: collections
              .filter((c) => c.startUs < end && c.startUs + c.durationMs * 1000 > s.startUs)
              .map((c) => ({ kind: c.kind, ms: round(c.durationMs) })),
          };
        }),
      minor: minor.length,
      minorMs: sum(minor),
      major: major.length,
      majorMs: sum(major),
      maxCollectionMs: round(Math.max(0, ...collections.map((c) => c.durationMs))),
    };
    const before = record.schedule[i - 1];
    const after = record.schedule[i];
    if (before?.length && after?.length) {
      summary.runMs = round(((after[0] as number) - (before[0] as number)) / 1e6);
      summary.waitMs = round(((after[1] as number) - (before[1] as number)) / 1e6);
    }
    steps.push(summary);
  }
  return steps;
}
