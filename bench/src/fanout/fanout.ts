/**
 * The fan-out orchestrator: one server child, a few generator children,
 * a rate sweep per scenario, figures recorded as JSON lines.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestPostgres } from '@confab/platform/testing';
import { bundleEntry } from '../../../scripts/bundle';
import { Child } from '../child';
import { LatencyHistogram } from '../histogram';
import { REPO_DIR, type Recorder } from '../results';
import {
  type GeneratorChildMessage,
  type GeneratorParentMessage,
  isConfab,
  type RoomSpec,
  SERVER_DIALECT,
  type ServerChildMessage,
  type ServerChildOptions,
  type ServerKind,
  type ServerParentMessage,
  type StepResult,
} from './messages';
import { createTokenSigner, type TokenSigner } from './tokens';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVER_CHILD_SOURCE = path.join(HERE, 'server-child.ts');

let serverChild: Promise<string> | null = null;
/**
 * The server process's program: the server child and everything of Confab it imports bundled into one
 * plain ES module (a chunk per server kind), as the containers run the services (scripts/bundle.ts), so the servers are measured
 * without a TypeScript loader in the process (about 5 MB of JS heap and 45 MB of RSS in the sync
 * server's). Every server kind runs from it, bare Hocuspocus too. BENCH_SERVER_TSX=1 runs the source
 * through tsx instead: CPU profiles then name Confab's own files.
 */
function serverChildFile(): Promise<string> {
  if (process.env.BENCH_SERVER_TSX === '1') return Promise.resolve(SERVER_CHILD_SOURCE);
  if (serverChild) return serverChild;
  // Chunk names carry content hashes: start from an empty folder so old builds' chunks do not pile up.
  const dir = path.join(REPO_DIR, 'bench', '.build');
  fs.rmSync(dir, { recursive: true, force: true });
  // Split: a bare Hocuspocus process loads its own server's chunk and packages, none of Confab's.
  serverChild = bundleEntry(SERVER_CHILD_SOURCE, path.join(dir, 'server-child.mjs'), { splitting: true });
  return serverChild;
}
const GENERATOR_CHILD = path.join(HERE, 'generator.ts');

/** p99 above this is "not sustained": a chat line later than this feels late. */
export const P99_LIMIT_MS = 200;

export interface FanoutScenario {
  roomSize: number;
  connections: number;
  /** Also run the feature ladder (LADDER_SERVERS) on this scenario when no --servers= is given. */
  ladder?: boolean;
}

/** The rungs between bare Hocuspocus and full Confab, each a Confab with one production feature taken out. */
export const LADDER_SERVERS: ServerKind[] = ['confab-mem', 'confab-noguard', 'confab-nobus'];

export interface FanoutPlan {
  servers: ServerKind[];
  scenarios: FanoutScenario[];
  /** Offered deliveries per second (messages/s × (roomSize − 1)), swept upward until saturation. */
  deliveryRates: number[];
  stepMs: number;
  drainMs: number;
  warmupMs: number;
  /** Tries per rate before a failing step ends the sweep. */
  stepAttempts: number;
  /** Bisection steps between the last rate sustained and the first one not (0: none). */
  refineSteps?: number;
  generators: number;
  /** Rooms opened (one client each, preloaded) to measure memory per loaded room. */
  memoryRooms: number;
  preloadMessages: number;
  textChars: number;
}

/** Loads held again and again, to compare latency where one step's p99 would be noise (the `latency` suite). */
export interface HeldLoads {
  readonly scenario: FanoutScenario;
  /** Offered deliveries/s, each well under every compared server's maximum. */
  readonly rates: readonly number[];
}

type ServerChild = Child<ServerParentMessage, ServerChildMessage>;
type GeneratorChild = Child<GeneratorParentMessage, GeneratorChildMessage>;

type ServerStats = Extract<ServerChildMessage, { type: 'stats' }>;
type OptionalStat = 'mallocArenaBytes' | 'threadArenasBytes' | 'newSpacePhysicalBytes';

/** For each optional stat both samples carry, its growth per connection in KiB (one decimal), under the name given. */
function perConnectionKiB(
  idle: ServerStats,
  connected: ServerStats,
  connections: number,
  fields: Record<string, OptionalStat>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, stat] of Object.entries(fields)) {
    const before = idle[stat];
    const after = connected[stat];
    if (before === undefined || after === undefined) continue;
    out[name] = Math.round(((after - before) / 1024 / connections) * 10) / 10;
  }
  return out;
}

let statsId = 0;
async function serverStats(server: ServerChild, gc: boolean) {
  const id = ++statsId;
  server.send({ type: 'stats', id, gc });
  return server.next('stats', 30_000, (m) => m.id === id);
}

/** A full-GC heap that moved by at most this much in SETTLE_STEP_MS counts as at rest. */
const SETTLED_HEAP_BYTES = 32 * 1024;
const SETTLE_STEP_MS = 500;
const SETTLE_MAX_MS = 10_000;

/**
 * The server's stats after a full GC once its heap has stopped moving: the
 * work a load set off (Confab publishes a message.created per preloaded
 * message) is over, however busy the machine. A fixed wait was not enough:
 * Confab on PostgreSQL measured 158 KiB per room 1 s after the load in one
 * quick pass; with two busy loops beside it, 126–131 KiB 1 s after and
 * 121–124 KiB at rest (bare Hocuspocus 98–102 KiB either way).
 */
async function serverStatsAtRest(server: ServerChild) {
  let previous = await serverStats(server, true);
  for (let waited = 0; waited < SETTLE_MAX_MS; waited += SETTLE_STEP_MS) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_STEP_MS));
    const now = await serverStats(server, true);
    if (Math.abs(now.heapUsedBytes - previous.heapUsedBytes) <= SETTLED_HEAP_BYTES) return now;
    previous = now;
  }
  return previous;
}

async function startServer(
  kind: ServerKind,
  signer: TokenSigner | null,
): Promise<{ child: ServerChild; url: string; cleanup: () => Promise<void> }> {
  const program = await serverChildFile();
  const confab = isConfab(kind);
  const dataDir = confab ? fs.mkdtempSync(path.join(os.tmpdir(), 'confab-bench-')) : undefined;
  // A fresh PostgreSQL database per server start, dropped afterwards.
  const postgres = kind === 'confab-pg' ? await createTestPostgres() : undefined;
  const options: ServerChildOptions = {
    kind,
    ...(signer ? { publicJwk: signer.publicJwk } : {}),
    ...(dataDir ? { dataDir } : {}),
    ...(postgres ? { databaseUrl: postgres.url } : {}),
  };
  const cleanup = async () => {
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    await postgres?.drop();
  };
  // BENCH_CONFAB_NODE_ARGS=<flags>: Node flags for Confab's server processes only (an A/B of a V8 setting against
  // bare Hocuspocus on its defaults, e.g. --max-semi-space-size=16).
  const extraArgs = confab ? (process.env.BENCH_CONFAB_NODE_ARGS ?? '').split(' ').filter(Boolean) : [];
  const child: ServerChild = new Child(program, [JSON.stringify(options)], { exposeGc: true, extraArgs });
  try {
    const listening = await child.next('listening', 60_000);
    return { child, url: `ws://127.0.0.1:${listening.port}${listening.path}`, cleanup };
  } catch (error) {
    child.kill();
    await cleanup();
    throw error;
  }
}

function roomUrl(kind: ServerKind, base: string, documentName: string): string {
  // y-websocket takes the document from the path; Hocuspocus from each frame.
  return kind === 'y-websocket' ? `${base.replace(/\/$/, '')}/${encodeURIComponent(documentName)}` : base;
}

async function buildRooms(
  kind: ServerKind,
  base: string,
  tag: string,
  rooms: number,
  roomSize: number,
  signer: TokenSigner | null,
): Promise<RoomSpec[]> {
  const specs: RoomSpec[] = [];
  for (let r = 0; r < rooms; r++) {
    const documentName = `room:bench-${tag}-${r}`;
    const clients = [];
    for (let c = 0; c < roomSize; c++) {
      const userId = `u${r}x${c}`;
      const sessionId = `s${r}x${c}`;
      const token = signer ? await signer.sign({ userId, sessionId, documentName, role: 'member' }) : '';
      clients.push({ index: r * roomSize + c, userId, sessionId, token });
    }
    specs.push({ documentName, url: roomUrl(kind, base, documentName), clients });
  }
  return specs;
}

/** Whole rooms per process, so a message's sender and receivers share one clock. */
async function startGenerators(
  kind: ServerKind,
  rooms: RoomSpec[],
  plan: FanoutPlan,
  signer: TokenSigner | null,
): Promise<{ child: GeneratorChild; clients: number; connectMs: number }[]> {
  const count = Math.max(1, Math.min(plan.generators, rooms.length));
  const groups: RoomSpec[][] = Array.from({ length: count }, () => []);
  rooms.forEach((room, i) => {
    groups[i % count]?.push(room);
  });
  const generators = groups.map((group) => ({
    child: new Child<GeneratorParentMessage, GeneratorChildMessage>(GENERATOR_CHILD),
    clients: group.reduce((n, room) => n + room.clients.length, 0),
    group,
    connectMs: 0,
  }));
  try {
    await Promise.all(
      generators.map(async (g) => {
        g.child.send({
          type: 'init',
          dialect: SERVER_DIALECT[kind],
          rooms: g.group,
          textChars: plan.textChars,
          connectConcurrency: 32,
          connectTimeoutMs: 20_000,
          ...(signer ? { tokenKey: signer.privateJwk } : {}),
        });
        g.connectMs = (await g.child.next('ready', 120_000)).connectMs;
      }),
    );
  } catch (error) {
    for (const g of generators) g.child.kill();
    throw error;
  }
  return generators;
}

interface StepFigures {
  offeredDeliveriesPerSec: number;
  achievedDeliveriesPerSec: number;
  messagesSent: number;
  deliveries: number;
  lostDeliveries: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  serverCpuUsPerDelivery: number;
  serverCpuCores: number;
  generatorCpuUsPerDelivery: number;
  generatorCpuCores: number;
  generatorLoopDelayP99Ms: number;
  generatorEventLoopUtilization: number;
  /** The server's main thread: share of the step it was busy, and its event-loop delay p99. */
  serverEventLoopUtilization: number;
  serverLoopDelayP99Ms: number;
  generatorLimited: boolean;
  /** Sockets the server closed during the step (a guard refusal closes one): should stay 0. */
  closedSockets: number;
  /** The machine's 1-minute load average after the step: above the core count, others' work is in the figures. */
  loadAverage1m: number;
  sustained: boolean;
}

async function runStep(
  server: ServerChild,
  generators: { child: GeneratorChild; clients: number }[],
  id: number,
  offeredDeliveriesPerSec: number,
  roomSize: number,
  durationMs: number,
  drainMs: number,
): Promise<StepFigures> {
  const totalClients = generators.reduce((n, g) => n + g.clients, 0);
  const messagesPerSecond = offeredDeliveriesPerSec / (roomSize - 1);
  const before = await serverStats(server, false);
  const results: StepResult[] = await Promise.all(
    generators.map(async (g) => {
      g.child.send({
        type: 'step',
        id,
        messagesPerSecond: (messagesPerSecond * g.clients) / totalClients,
        durationMs,
        drainMs,
      });
      return g.child.next('stepResult', durationMs + drainMs + 60_000, (m) => m.id === id);
    }),
  );
  const after = await serverStats(server, false);
  const histogram = new LatencyHistogram();
  let sent = 0;
  let expected = 0;
  let received = 0;
  let generatorCpuUs = 0;
  let wallMs = 0;
  let loopDelayP99Ms = 0;
  let elu = 0;
  let closedSockets = 0;
  for (const r of results) {
    closedSockets += r.closedSockets;
    histogram.add(r.histogram);
    sent += r.sent;
    expected += r.expected;
    received += r.received;
    generatorCpuUs += r.cpuUserUs + r.cpuSystemUs;
    wallMs = Math.max(wallMs, r.totalDurationMs);
    loopDelayP99Ms = Math.max(loopDelayP99Ms, r.loopDelayP99Ms);
    elu = Math.max(elu, r.eventLoopUtilization);
  }
  const serverCpuUs = after.cpuUserUs + after.cpuSystemUs - (before.cpuUserUs + before.cpuSystemUs);
  const offeredMessages = (messagesPerSecond * durationMs) / 1000;
  const p99Ms = histogram.percentileUs(0.99) / 1000;
  const lostDeliveries = expected - received;
  const generatorLimited = sent < offeredMessages * 0.9;
  const round = (n: number, digits = 2) => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : null);
  return {
    offeredDeliveriesPerSec,
    achievedDeliveriesPerSec: round((received / durationMs) * 1000, 0) ?? 0,
    messagesSent: sent,
    deliveries: received,
    lostDeliveries,
    p50Ms: round(histogram.percentileUs(0.5) / 1000) ?? Number.NaN,
    p95Ms: round(histogram.percentileUs(0.95) / 1000) ?? Number.NaN,
    p99Ms: round(p99Ms) ?? Number.NaN,
    maxMs: round(histogram.maxUs / 1000) ?? Number.NaN,
    serverCpuUsPerDelivery: round(serverCpuUs / Math.max(1, received), 1) ?? Number.NaN,
    serverCpuCores: round(serverCpuUs / 1000 / wallMs, 3) ?? Number.NaN,
    generatorCpuUsPerDelivery: round(generatorCpuUs / Math.max(1, received), 1) ?? Number.NaN,
    generatorCpuCores: round(generatorCpuUs / 1000 / wallMs, 3) ?? Number.NaN,
    generatorLoopDelayP99Ms: round(loopDelayP99Ms) ?? Number.NaN,
    generatorEventLoopUtilization: round(elu, 3) ?? Number.NaN,
    serverEventLoopUtilization:
      round(
        (after.loopActiveMs - before.loopActiveMs) /
          (after.loopActiveMs - before.loopActiveMs + after.loopIdleMs - before.loopIdleMs),
        3,
      ) ?? Number.NaN,
    serverLoopDelayP99Ms: round(after.loopDelayP99Ms) ?? Number.NaN,
    generatorLimited,
    closedSockets,
    loadAverage1m: round(os.loadavg()[0] ?? 0) ?? 0,
    sustained:
      closedSockets === 0 &&
      received > 0 &&
      p99Ms <= P99_LIMIT_MS &&
      lostDeliveries <= expected * 0.001 &&
      !generatorLimited,
  };
}

/** One server in a fan-out scenario: its process, clients and sweep so far. */
interface Contestant {
  readonly kind: ServerKind;
  readonly base: { bench: 'fanout' | 'latency'; server: ServerKind; roomSize: number; connections: number };
  readonly server: ServerChild;
  readonly generators: { child: GeneratorChild; clients: number; connectMs: number }[];
  readonly cleanup: () => Promise<void>;
  stepId: number;
  best: StepFigures | null;
  failedRate: number | null;
}

/** Starts the server, connects every client, records the connection figures and warms up (not recorded). */
async function setUp(
  kind: ServerKind,
  scenario: FanoutScenario,
  plan: FanoutPlan,
  record: Recorder,
  bench: Contestant['base']['bench'] = 'fanout',
): Promise<Contestant> {
  const signer = isConfab(kind) ? await createTokenSigner() : null;
  const { child: server, url, cleanup } = await startServer(kind, signer);
  let generators: Contestant['generators'] = [];
  const base = {
    bench,
    server: kind,
    roomSize: scenario.roomSize,
    connections: scenario.connections,
  };
  try {
    const idle = await serverStats(server, true);
    const rooms = await buildRooms(
      kind,
      url,
      Math.random().toString(36).slice(2, 8),
      scenario.connections / scenario.roomSize,
      scenario.roomSize,
      signer,
    );
    generators = await startGenerators(kind, rooms, plan, signer);
    const connected = await serverStats(server, true);
    record({
      ...base,
      kind: 'connections',
      generators: generators.length,
      // Every client opened, authenticated (Confab: token verified) and past sync step 1.
      connectAllMs: Math.round(Math.max(...generators.map((g) => g.connectMs))),
      serverIdleRssMiB: Math.round((idle.rssBytes / 2 ** 20) * 10) / 10,
      rssKiBPerConnection: Math.round(((connected.rssBytes - idle.rssBytes) / 1024 / scenario.connections) * 10) / 10,
      heapKiBPerConnection:
        Math.round(((connected.heapUsedBytes - idle.heapUsedBytes) / 1024 / scenario.connections) * 10) / 10,
      // Where the RSS per connection goes besides live JS objects: V8's heap as committed, and Buffers.
      heapCommittedKiBPerConnection:
        Math.round(((connected.heapTotalBytes - idle.heapTotalBytes) / 1024 / scenario.connections) * 10) / 10,
      externalKiBPerConnection:
        Math.round(((connected.externalBytes - idle.externalBytes) / 1024 / scenario.connections) * 10) / 10,
      // Native memory by where it sits (Linux), and the young generation, which V8 never gives back.
      ...perConnectionKiB(idle, connected, scenario.connections, {
        mallocKiBPerConnection: 'mallocArenaBytes',
        threadArenasKiBPerConnection: 'threadArenasBytes',
        newSpaceKiBPerConnection: 'newSpacePhysicalBytes',
      }),
    });
    const contestant: Contestant = { kind, base, server, generators, cleanup, stepId: 0, best: null, failedRate: null };
    // Warm up the JIT and the rooms' documents; not recorded.
    await runStep(
      server,
      generators,
      ++contestant.stepId,
      plan.deliveryRates[0] ?? 100,
      scenario.roomSize,
      plan.warmupMs,
      plan.drainMs,
    );
    return contestant;
  } catch (error) {
    await Promise.all(generators.map((g) => g.child.stop({ type: 'stop' })));
    await server.stop({ type: 'stop' });
    await cleanup();
    throw error;
  }
}

async function tearDown(c: Contestant): Promise<void> {
  await Promise.all(c.generators.map((g) => g.child.stop({ type: 'stop' })));
  await c.server.stop({ type: 'stop' });
  await c.cleanup();
}

/** One measured step of the contestant at `rate`. */
function stepAt(c: Contestant, rate: number, scenario: FanoutScenario, plan: FanoutPlan): Promise<StepFigures> {
  return runStep(c.server, c.generators, ++c.stepId, rate, scenario.roomSize, plan.stepMs, plan.drainMs);
}

/** A step at `rate`, tried again when it fails (one burst of someone else's work must not decide it); its sustained figures or null. */
async function tryRate(
  c: Contestant,
  rate: number,
  refine: boolean,
  scenario: FanoutScenario,
  plan: FanoutPlan,
  record: Recorder,
): Promise<StepFigures | null> {
  for (let attempt = 1; attempt <= plan.stepAttempts; attempt++) {
    const figures = await stepAt(c, rate, scenario, plan);
    record({ ...c.base, kind: 'step', stepMs: plan.stepMs, attempt, ...(refine ? { refine } : {}), ...figures });
    if (figures.sustained) return figures;
    if (figures.closedSockets > 0) return null; // connections lost: a retry would not measure the same thing
    await new Promise((r) => setTimeout(r, plan.drainMs));
    await untilServerIdle(c.server);
  }
  return null;
}

/**
 * Waits until the server's event loop is mostly idle (utilization under 0.2
 * over 250 ms, 15 s at most). After an overloaded step the server can still be
 * working through what it was sent long after the drain: a retry measured then
 * is the backlog's (one delivered nothing at 160,000/s offered, in rooms of 10).
 */
async function untilServerIdle(server: ServerChild): Promise<void> {
  let before = await serverStats(server, false);
  for (let waited = 0; waited < 15_000; waited += 250) {
    await new Promise((r) => setTimeout(r, 250));
    const now = await serverStats(server, false);
    const active = now.loopActiveMs - before.loopActiveMs;
    const idle = now.loopIdleMs - before.loopIdleMs;
    if (active + idle > 0 && active / (active + idle) < 0.2) return;
    before = now;
  }
}

/** `list` rotated left by `by`: who goes first changes from one rate to the next. */
function rotated<T>(list: readonly T[], by: number): T[] {
  const k = list.length === 0 ? 0 : by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/**
 * The sweep for every server of a scenario, **interleaved**: all of them are
 * started and connected first, then each offered rate is measured on each
 * server in turn (the order rotating from one rate to the next) before the next
 * rate. On a machine shared with other work, a slow minute then hits every
 * server at about the same rates, instead of whichever one happened to be
 * swept during it: run back to back, bare Hocuspocus's own maximum moved
 * between 113,000 and 200,000 deliveries/s from one run to the next, and the
 * ratios with it. Idle servers cost next to nothing while another is measured.
 */
export async function runFanoutScenario(
  kinds: readonly ServerKind[],
  scenario: FanoutScenario,
  plan: FanoutPlan,
  record: Recorder,
): Promise<void> {
  const contestants: Contestant[] = [];
  try {
    for (const kind of kinds) {
      try {
        contestants.push(await setUp(kind, scenario, plan, record));
      } catch (error) {
        record({ bench: 'fanout', kind: 'error', server: kind, ...scenario, error: String(error) });
      }
    }
    let live = [...contestants];
    for (const [index, rate] of plan.deliveryRates.entries()) {
      if (live.length === 0) break;
      for (const c of rotated(live, index)) {
        const figures = await tryRate(c, rate, false, scenario, plan, record);
        // Saturated (or the generator could not keep up): higher rates only queue.
        if (figures) c.best = figures;
        else c.failedRate = rate;
      }
      live = live.filter((c) => c.failedRate === null);
    }
    // The sweep's rates are up to 2× apart; bisect (geometrically) between the last rate sustained and
    // the first that was not, so the maximum is known to within ~20% rather than a factor of 2.
    for (let i = 0; i < (plan.refineSteps ?? 0); i++) {
      for (const c of rotated(contestants, i)) {
        const low = c.best?.offeredDeliveriesPerSec ?? null;
        const high = c.failedRate;
        if (low === null || high === null) continue;
        const rate = Math.round(Math.sqrt(low * high) / 100) * 100;
        if (rate <= low || rate >= high) continue;
        const figures = await tryRate(c, rate, true, scenario, plan, record);
        if (figures) c.best = figures;
        else c.failedRate = rate;
      }
    }
    for (const c of contestants) {
      record({
        ...c.base,
        kind: 'summary',
        p99LimitMs: P99_LIMIT_MS,
        maxSustainedDeliveriesPerSec: c.best?.achievedDeliveriesPerSec ?? 0,
        atMaxSustained: c.best,
        sweepCeilingReached: c.best !== null && c.best.offeredDeliveriesPerSec === plan.deliveryRates.at(-1),
      });
    }
  } finally {
    for (const c of contestants) await tearDown(c).catch(() => undefined);
  }
}

/**
 * Latency at held loads: every server of the scenario is connected first, then
 * each load is held for one step on each server in turn, `repeats` times over
 * (the order rotating), with no retry and no bisection. The report compares
 * the median p50 and p99 of each load's steps: one 5-second step's p99 moves
 * by 2× or more from step to step on a 2-core machine shared with the load
 * generators, and the sweep holds each load only once.
 */
export async function runHeldLoads(
  kinds: readonly ServerKind[],
  held: HeldLoads,
  repeats: number,
  plan: FanoutPlan,
  record: Recorder,
): Promise<void> {
  const { scenario } = held;
  const contestants: Contestant[] = [];
  try {
    for (const kind of kinds) {
      try {
        contestants.push(await setUp(kind, scenario, plan, record, 'latency'));
      } catch (error) {
        record({ bench: 'latency', kind: 'error', server: kind, ...scenario, error: String(error) });
      }
    }
    let turn = 0;
    for (let repeat = 1; repeat <= repeats; repeat++) {
      for (const rate of held.rates) {
        for (const c of rotated(contestants, turn++)) {
          const figures = await stepAt(c, rate, scenario, plan);
          record({ ...c.base, kind: 'step', stepMs: plan.stepMs, repeat, ...figures });
          if (!figures.sustained) await untilServerIdle(c.server);
        }
      }
    }
  } finally {
    for (const c of contestants) await tearDown(c).catch(() => undefined);
  }
}

/** Rooms of one client each, preloaded with `plan.preloadMessages` messages through one generator. */
async function preloadRooms(
  kind: ServerKind,
  url: string,
  count: number,
  plan: FanoutPlan,
  signer: TokenSigner | null,
) {
  const rooms = await buildRooms(kind, url, Math.random().toString(36).slice(2, 8), count, 1, signer);
  const generators = await startGenerators(kind, rooms, { ...plan, generators: 1 }, signer);
  const g = generators[0];
  if (!g) throw new Error('no generator');
  g.child.send({ type: 'preload', messages: plan.preloadMessages });
  const preloaded = await g.child.next('preloaded', 600_000);
  return { generators, preloaded };
}

/**
 * Memory of loaded rooms: `memoryRooms` rooms with one client each, each
 * holding `preloadMessages` messages. A warm-up set of rooms is loaded and
 * closed first, so the code compiled on the first load (and every other
 * one-off allocation of that path) is in the baseline rather than divided
 * among the measured rooms: without it a server with more code on its load
 * path (Confab's guard, storage and events) looked ~150 KiB heavier per room.
 * Then the measured rooms' clients leave too, and what the server still
 * holds per room once they are idle (unloaded) is measured against the same
 * baseline.
 */
export async function runRoomMemory(kind: ServerKind, plan: FanoutPlan, record: Recorder): Promise<void> {
  const signer = isConfab(kind) ? await createTokenSigner() : null;
  const { child: server, url, cleanup } = await startServer(kind, signer);
  let generators: { child: GeneratorChild; clients: number; connectMs: number }[] = [];
  const leave = async () => {
    await Promise.all(generators.map((gen) => gen.child.stop({ type: 'stop' })));
    generators = [];
  };
  try {
    generators = (await preloadRooms(kind, url, plan.memoryRooms, plan, signer)).generators;
    await leave();
    // The warm-up rooms unload once their clients are gone (every server here unloads an empty room).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const idle = await serverStatsAtRest(server);
    const loaded = await preloadRooms(kind, url, plan.memoryRooms, plan, signer);
    generators = loaded.generators;
    // At rest: what the rooms hold, not the work their load set off (Confab publishes a message.created per preloaded message).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const after = await serverStatsAtRest(server);
    await leave();
    // Each server unloads a room once its last client is gone (Confab once its log is committed).
    for (let waited = 0; waited < SETTLE_MAX_MS; waited += SETTLE_STEP_MS) {
      if ((await serverStats(server, false)).loadedDocuments <= idle.loadedDocuments) break;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_STEP_MS));
    }
    const left = await serverStatsAtRest(server);
    const perRoomKiB = (bytes: number) => Math.round(bytes / 1024 / plan.memoryRooms);
    record({
      bench: 'rooms',
      kind: 'rooms',
      server: kind,
      rooms: plan.memoryRooms,
      messagesPerRoom: plan.preloadMessages,
      updateBytesPerRoom: Math.round(loaded.preloaded.stateBytes / plan.memoryRooms),
      preloadMs: Math.round(loaded.preloaded.ms),
      rssKiBPerLoadedRoom: perRoomKiB(after.rssBytes - idle.rssBytes),
      heapKiBPerLoadedRoom: perRoomKiB(after.heapUsedBytes - idle.heapUsedBytes),
      loadedDocuments: after.loadedDocuments - idle.loadedDocuments,
      loadedDocumentsAfterLeft: left.loadedDocuments - idle.loadedDocuments,
      heapKiBPerRoomLeft: perRoomKiB(left.heapUsedBytes - idle.heapUsedBytes),
      rssKiBPerRoomLeft: perRoomKiB(left.rssBytes - idle.rssBytes),
    });
  } finally {
    await leave();
    await server.stop({ type: 'stop' });
    await cleanup();
  }
}
