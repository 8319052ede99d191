import fs from 'node:fs';
import path from 'node:path';
import {
  type FanoutPlan,
  type FanoutScenario,
  type HeldLoads,
  LADDER_SERVERS,
  runFanoutScenario,
  runHeldLoads,
  runRoomMemory,
} from './fanout/fanout';
import type { ServerKind } from './fanout/messages';
import { createRecorder, createRunContext, type Mode, RESULTS_FILE, type Recorder, type ResultLine } from './results';

/**
 * `rooms` is the memory of loaded rooms (and of rooms left again), and `latency` holds a few loads again
 * and again: suites of their own, so each can be measured without the sweep.
 */
export const SUITES = ['fanout', 'latency', 'rooms', 'crdt', 'others'] as const;
export type Suite = (typeof SUITES)[number];
export const SERVERS: ServerKind[] = ['confab', 'confab-pg', 'hocuspocus', 'y-websocket'];
/** The smoke pass: Confab as the all-in-one runs it (SQLite) and the peers; PostgreSQL needs a server. */
export const DEFAULT_SERVERS: ServerKind[] = ['confab', 'hocuspocus', 'y-websocket'];
/** Every kind --servers= accepts: the compared servers and the feature ladder's rungs. */
const KNOWN_SERVERS: ServerKind[] = [...SERVERS, ...LADDER_SERVERS];

export interface Plan {
  fanout: FanoutPlan;
  /** The latency suite: loads held `repeats` times on each server (bare Hocuspocus and Confab's two databases). */
  latency: { loads: HeldLoads[]; repeats: number };
  crdtMessageCounts: number[];
  /** Appends timed per CRDT case (each also applied to a peer copy). */
  crdtAppends: number;
  /** Time each other engineer's bench file may take; 0 skips them. */
  othersBudgetMs: number;
  /** Time all of them together may take. */
  othersTotalMs: number;
  /** Hard bound for the whole run: it stops by itself. */
  deadlineMs: number;
}

export const PLANS: Record<Mode, Plan> = {
  smoke: {
    fanout: {
      servers: DEFAULT_SERVERS,
      scenarios: [{ roomSize: 5, connections: 10 }],
      deliveryRates: [400],
      stepMs: 800,
      drainMs: 500,
      warmupMs: 300,
      stepAttempts: 2,
      generators: 1,
      memoryRooms: 2,
      preloadMessages: 30,
      textChars: 60,
    },
    latency: { loads: [{ scenario: { roomSize: 5, connections: 10 }, rates: [400] }], repeats: 1 },
    crdtMessageCounts: [500],
    crdtAppends: 20,
    othersBudgetMs: 0,
    othersTotalMs: 0,
    deadlineMs: 120_000,
  },
  quick: {
    fanout: {
      servers: SERVERS,
      scenarios: [
        // The ladder adds ~15 s per rung here; at 50x1000 it would add several minutes more.
        { roomSize: 10, connections: 100, ladder: true },
        { roomSize: 50, connections: 1000 },
      ],
      // Up to 320k: bare Hocuspocus sustains about 200k in rooms of 10 here, and a ratio needs its maximum, not the ceiling.
      deliveryRates: [500, 1000, 2000, 5000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000],
      stepMs: 1500,
      drainMs: 1000,
      warmupMs: 1000,
      stepAttempts: 2,
      refineSteps: 2,
      generators: 2,
      memoryRooms: 10,
      preloadMessages: 300,
      textChars: 60,
    },
    latency: {
      loads: [
        { scenario: { roomSize: 10, connections: 100 }, rates: [8000] },
        { scenario: { roomSize: 50, connections: 1000 }, rates: [32_000] },
      ],
      repeats: 3,
    },
    crdtMessageCounts: [10_000],
    crdtAppends: 100,
    // Each script scales itself by BENCH_MODE (~3-10 s in quick, ~50 s for all six measured); the client (browser + app start) is last and
    // takes what remains. With the sweep, the held loads, room memory and CRDTs the pass took 8.5 minutes (2026-11-27).
    othersBudgetMs: 60_000,
    othersTotalMs: 100_000,
    deadlineMs: 12 * 60_000,
  },
  full: {
    fanout: {
      servers: SERVERS,
      scenarios: [
        { roomSize: 10, connections: 100, ladder: true },
        { roomSize: 10, connections: 1000, ladder: true },
        { roomSize: 50, connections: 100, ladder: true },
        { roomSize: 50, connections: 1000, ladder: true },
      ],
      deliveryRates: [
        250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12_000, 16_000, 24_000, 32_000, 48_000, 64_000, 96_000,
        128_000, 192_000, 256_000, 384_000,
      ],
      stepMs: 5000,
      drainMs: 3000,
      warmupMs: 2000,
      stepAttempts: 3,
      refineSteps: 2,
      generators: 2,
      memoryRooms: 20,
      preloadMessages: 1000,
      textChars: 60,
    },
    // A quarter to a half of the lowest maximum in the full pass of 2026-11-27 (Confab on PostgreSQL).
    latency: {
      loads: [
        { scenario: { roomSize: 10, connections: 100 }, rates: [8000, 16_000] },
        { scenario: { roomSize: 10, connections: 1000 }, rates: [6000, 12_000] },
        { scenario: { roomSize: 50, connections: 100 }, rates: [48_000, 96_000] },
        { scenario: { roomSize: 50, connections: 1000 }, rates: [48_000, 96_000] },
      ],
      repeats: 5,
    },
    crdtMessageCounts: [10_000, 100_000],
    crdtAppends: 100,
    othersBudgetMs: 300_000,
    othersTotalMs: 20 * 60_000,
    // The fan-out alone took 78 minutes on the 2-vCPU machine (2026-11-27), so 80 cut the pass short;
    // the held loads add about 25.
    deadlineMs: 180 * 60_000,
  },
};

interface Options {
  mode: Mode;
  reportOnly: boolean;
  report: boolean;
  suites: Suite[];
  /** null: the plan's servers. */
  servers: ServerKind[] | null;
  scenarios: FanoutScenario[] | null;
  /** null: the plan's sweep; else these offered deliveries/s, in order, without bisection (to profile one load). */
  rates: number[] | null;
  /** Free text printed with the run in the report, e.g. what else ran on the machine. */
  note: string | null;
}

export function parseArgs(argv: string[]): Options | string {
  const options: Options = {
    mode: 'quick',
    reportOnly: false,
    report: true,
    suites: [...SUITES],
    servers: null,
    scenarios: null,
    rates: null,
    note: null,
  };
  for (const arg of argv) {
    if (arg === '--smoke') options.mode = 'smoke';
    else if (arg === '--full') options.mode = 'full';
    else if (arg === '--quick') options.mode = 'quick';
    else if (arg === '--report') options.reportOnly = true;
    else if (arg === '--no-report') options.report = false;
    else if (arg.startsWith('--only=')) {
      const names = arg.slice('--only='.length).split(',');
      const unknown = names.filter((n) => !(SUITES as readonly string[]).includes(n));
      if (unknown.length > 0) return `unknown suite ${unknown.join(', ')} (known: ${SUITES.join(', ')})`;
      options.suites = names as Suite[];
    } else if (arg.startsWith('--servers=')) {
      const names = arg.slice('--servers='.length).split(',');
      const unknown = names.filter((n) => !(KNOWN_SERVERS as string[]).includes(n));
      if (unknown.length > 0) return `unknown server ${unknown.join(', ')} (known: ${KNOWN_SERVERS.join(', ')})`;
      options.servers = names as ServerKind[];
    } else if (arg.startsWith('--note=')) {
      options.note = arg.slice('--note='.length);
    } else if (arg.startsWith('--scenarios=')) {
      // `<roomSize>x<connections>`, e.g. --scenarios=10x100,50x1000
      const scenarios: FanoutScenario[] = [];
      for (const text of arg.slice('--scenarios='.length).split(',')) {
        const match = /^(\d+)x(\d+)$/.exec(text);
        const roomSize = Number(match?.[1]);
        const connections = Number(match?.[2]);
        if (!match || roomSize < 2 || connections % roomSize !== 0) {
          return `bad scenario ${text}: want <roomSize>x<connections>, roomSize ≥ 2, connections a multiple of it`;
        }
        scenarios.push({ roomSize, connections });
      }
      options.scenarios = scenarios;
    } else if (arg.startsWith('--rates=')) {
      const rates = arg.slice('--rates='.length).split(',').map(Number);
      if (rates.some((r) => !Number.isInteger(r) || r <= 0)) return `bad rates ${arg}: want positive integers`;
      options.rates = rates;
    } else return `unknown option ${arg}`;
  }
  return options;
}

async function runFanout(
  plan: FanoutPlan,
  servers: ServerKind[],
  withLadder: boolean,
  record: Recorder,
): Promise<void> {
  if (servers.includes('confab')) {
    const { measureSqliteCommit } = await import('./fanout/disk');
    record({ bench: 'fanout', kind: 'disk', probe: 'sqlite-wal-full-commit', ...measureSqliteCommit(200) });
  }
  // Scenario-major order: the servers compared in one table run back to back,
  // so a burst of other load on the machine hits them alike.
  for (const scenario of plan.scenarios) {
    // The ladder runs right after the servers it sits between (bare Hocuspocus and full Confab).
    const kinds = withLadder && scenario.ladder ? [...servers, ...LADDER_SERVERS] : servers;
    try {
      await runFanoutScenario(kinds, scenario, plan, record);
    } catch (error) {
      record({ bench: 'fanout', kind: 'error', server: kinds.join(','), ...scenario, error: String(error) });
    }
  }
}

async function runRooms(plan: FanoutPlan, servers: ServerKind[], record: Recorder): Promise<void> {
  for (const server of servers) {
    try {
      await runRoomMemory(server, plan, record);
    } catch (error) {
      record({ bench: 'rooms', kind: 'error', server, error: String(error) });
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  const options = parseArgs(argv);
  if (typeof options === 'string') {
    process.stderr.write(`bench: ${options}\n`);
    return 2;
  }
  if (options.reportOnly) {
    const { writeReport } = await import('./report/report');
    process.stderr.write(`bench: wrote ${writeReport()}\n`);
    return 0;
  }
  const plan = PLANS[options.mode];
  const lock = acquireRunLock();
  if (typeof lock === 'string') {
    process.stderr.write(`bench: ${lock}\n`);
    return 4;
  }
  try {
    return await runPass(options, plan, argv);
  } finally {
    lock.release();
  }
}

/**
 * One pass at a time on a machine: two passes at once measure each other
 * (2 cores) and interleave their lines in the results file. The lock is a
 * file holding the owner's pid; a lock whose process is gone is taken over.
 */
function acquireRunLock(): { release: () => void } | string {
  // *.tmp: ignored by git (.gitignore), like other scratch files in bench/results.
  const file = path.join(path.dirname(RESULTS_FILE), 'run.lock.tmp');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return { release: () => fs.rmSync(file, { force: true }) };
    } catch {
      const owner = Number(fs.readFileSync(file, 'utf8'));
      let alive = false;
      try {
        process.kill(owner, 0);
        alive = owner > 0;
      } catch {
        alive = false;
      }
      if (alive) return `another pass is running (pid ${owner}, ${file}); run one at a time`;
      fs.rmSync(file, { force: true });
    }
  }
  return `could not take ${file}`;
}

async function runPass(options: Options, plan: Plan, argv: string[]): Promise<number> {
  const command = `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
  const run = createRunContext(options.mode, command);
  const recordLine = createRecorder(run);
  const broken: string[] = [];
  const record: Recorder = (line) => {
    const problem = harnessProblem(line);
    if (problem) broken.push(problem);
    return recordLine(line);
  };
  const deadline = setTimeout(() => {
    process.stderr.write(`bench: deadline of ${plan.deadlineMs} ms passed, stopping\n`);
    process.exit(3);
  }, plan.deadlineMs);
  deadline.unref();
  record({
    bench: 'run',
    kind: 'start',
    command,
    suites: options.suites,
    servers: options.servers ?? plan.fanout.servers,
    startedAt: run.startedAt,
    note: options.note,
  });
  const started = Date.now();
  if (options.suites.includes('fanout')) {
    const servers = options.servers ?? plan.fanout.servers;
    const fanout = {
      ...plan.fanout,
      servers,
      scenarios: options.scenarios ?? plan.fanout.scenarios,
      ...(options.rates ? { deliveryRates: options.rates, refineSteps: 0 } : {}),
    };
    await runFanout(fanout, servers, options.servers === null, record);
  }
  if (options.suites.includes('latency')) {
    // y-websocket has no part in the latency targets (bare Hocuspocus is the baseline).
    const servers = options.servers ?? plan.fanout.servers.filter((s) => s !== 'y-websocket');
    const wanted = (s: FanoutScenario) =>
      !options.scenarios || options.scenarios.some((o) => o.roomSize === s.roomSize && o.connections === s.connections);
    const loads = plan.latency.loads
      .filter((l) => wanted(l.scenario))
      .map((l) => (options.rates ? { ...l, rates: options.rates } : l));
    for (const held of loads) {
      try {
        await runHeldLoads(servers, held, plan.latency.repeats, { ...plan.fanout, servers }, record);
      } catch (error) {
        record({ bench: 'latency', kind: 'error', server: servers.join(','), ...held.scenario, error: String(error) });
      }
    }
  }
  if (options.suites.includes('rooms')) {
    const servers = options.servers ?? plan.fanout.servers;
    await runRooms({ ...plan.fanout, servers }, servers, record);
  }
  if (options.suites.includes('crdt')) {
    const { runCrdt } = await import('./crdt/crdt');
    await runCrdt(plan.crdtMessageCounts, plan.crdtAppends, record);
  }
  if (options.suites.includes('others') && plan.othersBudgetMs > 0) {
    const { runOthers } = await import('./others');
    await runOthers(options.mode, plan.othersBudgetMs, plan.othersTotalMs, record);
  }
  record({ bench: 'run', kind: 'end', durationMs: Date.now() - started });
  if (options.report) {
    const { writeReport } = await import('./report/report');
    process.stderr.write(`bench: wrote ${writeReport()}\n`);
  }
  clearTimeout(deadline);
  if (broken.length > 0) {
    // Slow figures are results; these are the harness (or a server) not working, which CI must see.
    process.stderr.write(`bench: the harness did not work:\n${broken.map((b) => `  - ${b}`).join('\n')}\n`);
    return 1;
  }
  return 0;
}

/**
 * What makes a pass fail (exit 1) rather than report slow figures: a suite
 * that threw, a fan-out step in which nothing was delivered, or a socket the
 * server closed (for Confab: its guard refused what the generator sent, so the
 * workload is not valid chat). The other engineers' scripts are reported, not judged.
 */
function harnessProblem(line: ResultLine): string | null {
  const where = [line.bench, line.server ?? line.model, line.roomSize ? `${line.roomSize}x${line.connections}` : '']
    .filter(Boolean)
    .join(' ');
  if (line.kind === 'error' && line.bench !== 'other') return `${where}: ${String(line.error)}`;
  if ((line.bench === 'fanout' || line.bench === 'latency') && line.kind === 'step') {
    if (line.deliveries === 0) return `${where}: nothing delivered at ${line.offeredDeliveriesPerSec}/s`;
    if (typeof line.closedSockets === 'number' && line.closedSockets > 0) {
      return `${where}: ${line.closedSockets} sockets closed by the server (see the generator's stderr for the close reason)`;
    }
  }
  return null;
}
