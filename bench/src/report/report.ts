/**
 * Turns bench/results/results.jsonl into docs/benchmarks.md and the SVG
 * charts under docs/benchmarks/. Every comparison is within ONE run (same
 * machine, same minutes): each section takes the latest run that measured it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Comparison } from '../mode';
import { REPO_DIR, readResults, type StoredLine } from '../results';
import { ladderOnlyServers, ladderSummary, ladderTable } from './ladder';
import { type LatencyStep, latencyAcrossLoads, spread } from './latency';
import { lineChart, type Series } from './svg';

const DOC = path.join(REPO_DIR, 'docs', 'benchmarks.md');
const ASSETS = path.join(REPO_DIR, 'docs', 'benchmarks');
const SERVER_ORDER = ['confab', 'confab-pg', 'hocuspocus', 'y-websocket'];
const COLORS: Record<string, string> = {
  confab: '#1b6ac9',
  'confab-pg': '#7b3fc4',
  hocuspocus: '#e07b00',
  'y-websocket': '#2a9d3a',
};
const LABEL: Record<string, string> = {
  confab: 'Confab sync server (SQLite)',
  'confab-pg': 'Confab sync server (PostgreSQL)',
  hocuspocus: 'bare @hocuspocus/server 4',
  'y-websocket': '@y/websocket-server 0.1.1',
};

// Lines are JSON read back from disk, written by several suites (and other
// engineers' scripts) over time; the report reads fields defensively (num()).
// biome-ignore lint/suspicious/noExplicitAny: heterogeneous JSON records
type Line = StoredLine & Record<string, any>;

const num = (v: unknown, digits = 0): string => {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
};
const ratio = (a: unknown, b: unknown): string =>
  typeof a === 'number' && typeof b === 'number' && b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : '–';

/** A fan-out server's whole process with every client connected (MiB): its idle RSS plus what the connections added. */
function connectedRssMiB(rows: Line[], server: string): number | undefined {
  const c = rows.find((l) => l.server === server && l.kind === 'connections');
  return typeof c?.serverIdleRssMiB === 'number' && typeof c.rssKiBPerConnection === 'number'
    ? c.serverIdleRssMiB + (c.rssKiBPerConnection * c.connections) / 1024
    : undefined;
}

/** The latest run that measured `bench`; a smoke pass only when no quick or full pass ever did (CI runs smoke). */
function latestRun(lines: Line[], bench: string): { runId: string; lines: Line[] } | null {
  const measured = lines.filter((l) => l.bench === bench);
  const real = measured.filter((l) => l.mode !== 'smoke');
  const last = (real.length > 0 ? real : measured).at(-1);
  if (!last) return null;
  return { runId: last.runId, lines: lines.filter((l) => l.runId === last.runId) };
}

function runHeader(run: Line[], what: string): string {
  const start = run.find((l) => l.bench === 'run' && l.kind === 'start');
  const end = run.find((l) => l.bench === 'run' && l.kind === 'end');
  const first = run[0];
  if (!first) return '';
  const m = first.machine;
  const busy =
    m.loadAverage1m >= 0.5
      ? ' The machine was already busy when the run started (see the load average): treat absolute figures as noisy; the ratios within the run are the meaningful part.'
      : '';
  const note = start?.note ? `\nNote recorded with the run: ${start.note}` : '';
  return [
    `${what} come from run \`${first.runId}\` (${first.mode} pass) started ${start?.startedAt ?? first.at}, commit \`${first.commit}\`, command \`${start?.command ?? 'npm run bench'}\`${end ? `, ${Math.round(end.durationMs / 1000)} s in all` : ' (the run did not finish: figures are partial)'}.`,
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, 1-minute load average ${m.loadAverage1m} at the start.${busy}${note}`,
  ].join('\n');
}

/** One step per offered load, in rate order: a failed step is retried, and the later attempt stands for that rate. */
function standingSteps(rows: Line[], server: string): Line[] {
  const byRate = new Map<number, Line>();
  for (const l of rows) if (l.server === server && l.kind === 'step') byRate.set(l.offeredDeliveriesPerSec, l);
  // Bisection steps come after the failing rate: in rate order for the tables and charts.
  return [...byRate.values()].sort((a, b) => Number(a.offeredDeliveriesPerSec) - Number(b.offeredDeliveriesPerSec));
}

/** Each Confab server's latency as a multiple of bare Hocuspocus's, over every load both sustained. */
function latencyVsBare(rows: Line[]) {
  const latencySteps = (server: string): LatencyStep[] =>
    standingSteps(rows, server).map((l) => ({
      offeredDeliveriesPerSec: l.offeredDeliveriesPerSec,
      sustained: l.sustained === true,
      p50Ms: l.p50Ms,
      p99Ms: l.p99Ms,
    }));
  const bare = latencySteps('hocuspocus');
  return ['confab', 'confab-pg'].flatMap((server) => {
    const across = latencyAcrossLoads(latencySteps(server), bare);
    return across ? [{ server, ...across }] : [];
  });
}

const spreadText = (s: { median: number; min: number; max: number }) =>
  `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)}×)`;

function fanoutSection(all: Line[]): { text: string; charts: Record<string, string> } {
  const picked = latestRun(all, 'fanout');
  if (!picked) return { text: '_No fan-out results yet: run `npm run bench`._\n', charts: {} };
  const run = picked.lines;
  const fan = run.filter((l) => l.bench === 'fanout');
  const out: string[] = [runHeader(run, 'The figures below'), ''];
  const disk = fan.find((l) => l.kind === 'disk');
  if (disk) {
    out.push(
      `Context measured in the same run: one durable SQLite commit (WAL, a 200-byte row, synced before it returns as Confab's are) takes ${num(disk.commitMs, 2)} ms on this machine's temp disk, i.e. at most ${num(disk.commitsPerSec)} commits/s through one writer. See "Reading the Confab figures" below.`,
      '',
    );
  }
  const charts: Record<string, string> = {};
  const scenarios = [
    ...new Set(fan.filter((l) => l.roomSize && l.kind !== 'rooms').map((l) => `${l.roomSize}x${l.connections}`)),
  ];
  for (const key of scenarios) {
    const [roomSize, connections] = key.split('x').map(Number);
    const rows = fan.filter((l) => l.roomSize === roomSize && l.connections === connections);
    const servers = SERVER_ORDER.filter((s) => rows.some((l) => l.server === s));
    out.push(`### Rooms of ${roomSize}, ${num(connections)} connections`, '');
    const summary = (s: string) => rows.find((l) => l.server === s && l.kind === 'summary');
    const conn = (s: string) => rows.find((l) => l.server === s && l.kind === 'connections');
    const steps = (s: string) => standingSteps(rows, s);
    const attempts = (s: string) => rows.filter((l) => l.server === s && l.kind === 'step');
    const base = summary('hocuspocus');
    out.push(
      '| server | max sustained deliveries/s (p99 ≤ 200 ms) | vs bare Hocuspocus | server CPU µs/delivery there | p99 ms there | server RSS per connection | server RSS, all connected (vs bare Hocuspocus) | time to connect all | note |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    );
    const connectedMiB = (s: string) => connectedRssMiB(rows, s);
    for (const s of servers) {
      const sum = summary(s);
      const err = rows.find((l) => l.server === s && l.kind === 'error');
      const note = err
        ? `failed: ${String(err.error).slice(0, 120)}`
        : sum && !sum.maxSustainedDeliveriesPerSec
          ? 'no step sustained, not even the lowest rate: see the step table'
          : sum?.sweepCeilingReached
            ? 'never saturated: the sweep ended first (a lower bound)'
            : (sum?.atMaxSustained?.generatorLimited ?? false)
              ? 'generator-limited'
              : '';
      out.push(
        `| ${LABEL[s] ?? s} | ${num(sum?.maxSustainedDeliveriesPerSec)} | ${ratio(sum?.maxSustainedDeliveriesPerSec, base?.maxSustainedDeliveriesPerSec)} | ${num(sum?.atMaxSustained?.serverCpuUsPerDelivery, 1)} | ${num(sum?.atMaxSustained?.p99Ms, 1)} | ${num(conn(s)?.rssKiBPerConnection, 1)} KiB | ${num(connectedMiB(s), 1)} MiB (${ratio(connectedMiB(s), connectedMiB('hocuspocus'))}) | ${num(conn(s)?.connectAllMs)} ms | ${note} |`,
      );
    }
    out.push('');
    const ladder = ladderTable(rows);
    if (ladder) out.push(ladder);
    // The same offered load for every server: the highest step all of them sustained.
    const offered = (s: string) =>
      new Set(
        steps(s)
          .filter((l) => l.sustained)
          .map((l) => l.offeredDeliveriesPerSec as number),
      );
    const common = [...offered(servers[0] ?? '')].filter((r) => servers.every((s) => offered(s).has(r)));
    const at = common.length > 0 ? Math.max(...common) : null;
    if (at !== null) {
      const hp = steps('hocuspocus').find((l) => l.offeredDeliveriesPerSec === at);
      out.push(
        `At ${num(at)} deliveries/s offered (the highest load every server sustained), latency from send to receipt at every other client, and CPU:`,
        '',
        '| server | p50 ms | p95 ms | p99 ms | server CPU µs/delivery | vs bare Hocuspocus | server cores busy | generator CPU µs/delivery | generator loop delay p99 ms |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      );
      for (const s of servers) {
        const l = steps(s).find((x) => x.offeredDeliveriesPerSec === at);
        if (!l) continue;
        out.push(
          `| ${LABEL[s] ?? s} | ${num(l.p50Ms, 2)} | ${num(l.p95Ms, 2)} | ${num(l.p99Ms, 2)} | ${num(l.serverCpuUsPerDelivery, 1)} | ${ratio(l.serverCpuUsPerDelivery, hp?.serverCpuUsPerDelivery)} | ${num(l.serverCpuCores, 2)} | ${num(l.generatorCpuUsPerDelivery, 1)} | ${num(l.generatorLoopDelayP99Ms, 1)} |`,
        );
      }
      out.push('');
    } else {
      out.push('_No load was sustained by every server in this run: see the step table._', '');
    }
    const vsBare = latencyVsBare(rows);
    if (vsBare.length > 0) {
      out.push(
        "One step's p99 moves by 2× or more from step to step on this machine (a 20 ms stall of a 5 s step delays about 1% of its deliveries), so here is the latency at every offered load both Confab and bare Hocuspocus sustained, each as a multiple of bare Hocuspocus's at that load: median (and range) of the ratios.",
        '',
        '| server | loads compared | p50 vs bare Hocuspocus | p99 vs bare Hocuspocus |',
        '|---|---|---:|---:|',
      );
      for (const v of vsBare) {
        out.push(
          `| ${LABEL[v.server] ?? v.server} | ${v.loads.length}, ${num(v.loads[0])} to ${num(v.loads.at(-1))}/s | ${spreadText(v.p50)} | ${spreadText(v.p99)} |`,
        );
      }
      out.push('');
    }
    const file = `fanout-${roomSize}x${connections}.svg`;
    const series: Series[] = servers.flatMap((s) => [
      {
        name: `${s} p99`,
        color: COLORS[s] ?? '#555',
        points: steps(s).map((l) => [l.offeredDeliveriesPerSec, l.p99Ms] as [number, number]),
      },
      {
        name: `${s} p50`,
        color: COLORS[s] ?? '#555',
        dashed: true,
        points: steps(s).map((l) => [l.offeredDeliveriesPerSec, l.p50Ms] as [number, number]),
      },
    ]);
    charts[file] = lineChart({
      title: `Latency vs load: rooms of ${roomSize}, ${connections} connections`,
      xLabel: 'offered deliveries per second',
      yLabel: 'latency (ms, log)',
      series,
      yLine: { value: 200, label: 'p99 limit 200 ms' },
    });
    const cpuFile = `fanout-cpu-${roomSize}x${connections}.svg`;
    charts[cpuFile] = lineChart({
      title: `Server CPU per delivery vs load: rooms of ${roomSize}, ${connections} connections`,
      xLabel: 'offered deliveries per second',
      yLabel: 'server CPU µs per delivery (log)',
      series: servers.map((s) => ({
        name: s,
        color: COLORS[s] ?? '#555',
        points: steps(s).map((l) => [l.offeredDeliveriesPerSec, l.serverCpuUsPerDelivery] as [number, number]),
      })),
    });
    out.push(
      `![latency vs load, rooms of ${roomSize}, ${connections} connections](benchmarks/${file})`,
      '',
      `![server CPU per delivery vs load, rooms of ${roomSize}, ${connections} connections](benchmarks/${cpuFile})`,
      '',
    );
    out.push(
      '<details><summary>Every step of the sweep</summary>',
      '',
      '| server | offered/s | delivered/s | lost | p50 ms | p95 ms | p99 ms | max ms | server µs/delivery | server cores | generator µs/delivery | generator cores | generator loop p99 ms | load avg | sustained |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    );
    for (const s of [...servers, ...ladderOnlyServers(rows)]) {
      for (const l of attempts(s)) {
        out.push(
          `| ${s}${l.attempt > 1 ? ` (retry ${l.attempt - 1})` : ''}${l.refine ? ' (bisecting)' : ''} | ${num(l.offeredDeliveriesPerSec)} | ${num(l.achievedDeliveriesPerSec)} | ${num(l.lostDeliveries)} | ${num(l.p50Ms, 2)} | ${num(l.p95Ms, 2)} | ${num(l.p99Ms, 2)} | ${num(l.maxMs, 1)} | ${num(l.serverCpuUsPerDelivery, 1)} | ${num(l.serverCpuCores, 2)} | ${num(l.generatorCpuUsPerDelivery, 1)} | ${num(l.generatorCpuCores, 2)} | ${num(l.generatorLoopDelayP99Ms, 1)} | ${num(l.loadAverage1m, 1)} | ${l.sustained ? 'yes' : l.generatorLimited ? 'no (generator-limited)' : 'no'} |`,
        );
      }
    }
    out.push('', '</details>', '');
  }
  out.push(heldLoads(all).text, '');
  out.push(roomsSection(all, picked.runId));
  const errors = fan.filter((l) => l.kind === 'error');
  if (errors.length > 0) {
    out.push('### Failures in this run', '');
    for (const e of errors)
      out.push(
        `- ${e.server}${e.roomSize ? ` (${e.roomSize}×${e.connections})` : ''}${e.phase ? ` ${e.phase}` : ''}: ${String(e.error).slice(0, 300)}`,
      );
    out.push('');
  }
  return { text: out.join('\n'), charts };
}

/** Latency at loads held again and again (the latency suite), per scenario: medians of the repeated steps. */
function heldLoads(all: Line[]): { text: string; summary: Map<string, string> } {
  const summary = new Map<string, string>();
  const picked = latestRun(all, 'latency');
  if (!picked) return { text: '', summary };
  const steps = picked.lines.filter((l) => l.bench === 'latency' && l.kind === 'step');
  const out = [
    '### Latency at held loads',
    '',
    runHeader(picked.lines, 'These figures'),
    '',
    "A sweep holds each load once, and one step's p99 moves by 2× or more from one step to the next on this machine (a 20 ms stall in a 5 s step delays about 1% of its deliveries). So a few loads, each under every compared server's maximum, are held again and again, the servers taking turns, and each figure below is the **median of the repeated steps** (range in brackets); the ratios are of those medians.",
    '',
    '| scenario | offered deliveries/s | server | steps (sustained) | p50 ms | p99 ms | p99 vs bare Hocuspocus | p50 vs bare Hocuspocus | server CPU µs/delivery | CPU vs bare Hocuspocus |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const scenarios = [...new Set(steps.map((l) => `${l.roomSize}x${l.connections}`))];
  const fmt = (s: { median: number; min: number; max: number }, digits: number) =>
    `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`;
  for (const key of scenarios) {
    const [roomSize, connections] = key.split('x').map(Number);
    const rows = steps.filter((l) => l.roomSize === roomSize && l.connections === connections);
    const rates = [...new Set(rows.map((l) => l.offeredDeliveriesPerSec as number))].sort((a, b) => a - b);
    const worst = new Map<string, number>();
    for (const rate of rates) {
      const of = (server: string) => rows.filter((l) => l.server === server && l.offeredDeliveriesPerSec === rate);
      const figures = (server: string) => {
        const ls = of(server);
        return {
          count: ls.length,
          sustained: ls.filter((l) => l.sustained).length,
          p50: spread(ls.map((l) => l.p50Ms)),
          p99: spread(ls.map((l) => l.p99Ms)),
          cpu: spread(ls.map((l) => l.serverCpuUsPerDelivery)),
        };
      };
      const bare = figures('hocuspocus');
      for (const server of SERVER_ORDER) {
        const f = figures(server);
        if (f.count === 0) continue;
        const p99Ratio = server === 'hocuspocus' ? '–' : ratio(f.p99.median, bare.p99.median);
        if (server !== 'hocuspocus' && bare.count > 0) {
          worst.set(server, Math.max(worst.get(server) ?? 0, f.p99.median / bare.p99.median));
        }
        out.push(
          `| rooms of ${roomSize}, ${num(connections)} connections | ${num(rate)} | ${LABEL[server] ?? server} | ${f.count} (${f.sustained}) | ${fmt(f.p50, 2)} | ${fmt(f.p99, 1)} | ${p99Ratio} | ${server === 'hocuspocus' ? '–' : ratio(f.p50.median, bare.p50.median)} | ${num(f.cpu.median, 1)} | ${server === 'hocuspocus' ? '–' : ratio(f.cpu.median, bare.cpu.median)} |`,
        );
      }
    }
    if (worst.size > 0) {
      summary.set(
        key,
        `p99 at held loads (${rates.map((r) => num(r)).join(' and ')}/s, median of the repeated steps), the higher of the two as a multiple of bare Hocuspocus's: ${[
          ...worst,
        ]
          .map(([server, r]) => `${LABEL[server] ?? server} ${r.toFixed(2)}×`)
          .join('; ')}`,
      );
    }
  }
  /** A per-connection figure older runs did not record: "–" for them. */
  const kib = (value: unknown) => (typeof value === 'number' ? `${num(value, 1)} KiB` : '–');
  // The same run's servers, measured before their first step: the whole process with every client connected.
  const connected = picked.lines.filter((l) => l.bench === 'latency' && l.kind === 'connections');
  if (connected.length > 0) {
    out.push(
      '',
      "Server memory in the same run, each server's whole process (RSS) with every client connected and before its first step:",
      '',
      '| scenario | server | RSS, all connected | vs bare Hocuspocus | JS heap per connection | young generation per connection | thread arenas per connection |',
      '|---|---|---:|---:|---:|---:|---:|',
    );
    for (const key of scenarios) {
      const [roomSize, connections] = key.split('x').map(Number);
      const rows = connected.filter((l) => l.roomSize === roomSize && l.connections === connections);
      const bare = connectedRssMiB(rows, 'hocuspocus');
      const ratios: string[] = [];
      for (const server of SERVER_ORDER) {
        const rss = connectedRssMiB(rows, server);
        const row = rows.find((l) => l.server === server);
        if (rss === undefined || !row) continue;
        if (server !== 'hocuspocus') ratios.push(`${LABEL[server] ?? server} ${ratio(rss, bare)}`);
        out.push(
          `| rooms of ${roomSize}, ${num(connections)} connections | ${LABEL[server] ?? server} | ${num(rss, 1)} MiB | ${server === 'hocuspocus' ? '–' : ratio(rss, bare)} | ${num(row.heapKiBPerConnection as number, 1)} KiB | ${kib(row.newSpaceKiBPerConnection)} | ${kib(row.threadArenasKiBPerConnection)} |`,
        );
      }
      if (ratios.length > 0 && bare !== undefined) {
        const line = `Server RSS with every client connected in the held-load run, as a multiple of bare Hocuspocus's ${num(bare, 1)} MiB: ${ratios.join('; ')}`;
        summary.set(key, summary.has(key) ? `${summary.get(key)}.\n  - ${line}` : line);
      }
    }
  }
  const errors = picked.lines.filter((l) => l.bench === 'latency' && l.kind === 'error');
  out.push('', ...errors.map((e) => `- ${e.server} failed: ${String(e.error).slice(0, 300)}`));
  return { text: out.join('\n'), summary };
}

/**
 * Memory per loaded room, and what is left of a room once its clients are gone: from the latest run of
 * the rooms suite, or (before it was a suite of its own) from the fan-out run's lines.
 */
function roomsSection(all: Line[], fanoutRunId: string): string {
  const own = latestRun(all, 'rooms');
  const rooms = own
    ? own.lines.filter((l) => l.bench === 'rooms' && l.kind === 'rooms')
    : all.filter((l) => l.runId === fanoutRunId && l.bench === 'fanout' && l.kind === 'rooms');
  const first = rooms[0];
  if (!first) return '';
  const out = ['### Memory per loaded room', ''];
  if (own && own.runId !== fanoutRunId) out.push(runHeader(own.lines, 'These figures'), '');
  const left = rooms.some((l) => typeof l.heapKiBPerRoomLeft === 'number');
  const rssLeft = rooms.some((l) => typeof l.rssKiBPerRoomLeft === 'number');
  out.push(
    `${num(first.rooms)} rooms, one client each, each sent ${num(first.messagesPerRoom)} messages as one update (${num(first.updateBytesPerRoom)} bytes); server memory after a full GC once the heap has stopped moving (at least 1 s after the load), minus the server's, likewise at rest, after a warm-up load of as many rooms that were then closed${left ? '. Then the clients leave; once the server holds no more documents than before the load, the same measure again shows what an idle, unloaded room still costs' : ''}:`,
    '',
    `| server | RSS per loaded room | JS heap per loaded room | vs bare Hocuspocus (heap) |${left ? ' documents held after the clients left | JS heap per room after the clients left |' : ''}${rssLeft ? ' RSS per room after the clients left |' : ''}`,
    `|---|---:|---:|---:|${left ? '---:|---:|' : ''}${rssLeft ? '---:|' : ''}`,
  );
  const hp = rooms.find((l) => l.server === 'hocuspocus');
  for (const s of SERVER_ORDER) {
    const l = rooms.find((x) => x.server === s);
    if (!l) continue;
    const leftCells = left
      ? ` ${num(l.loadedDocumentsAfterLeft)} of ${num(l.loadedDocuments)} | ${num(l.heapKiBPerRoomLeft)} KiB |`
      : '';
    const rssLeftCell = rssLeft ? ` ${num(l.rssKiBPerRoomLeft)} KiB |` : '';
    out.push(
      `| ${LABEL[s] ?? s} | ${num(l.rssKiBPerLoadedRoom)} KiB | ${num(l.heapKiBPerLoadedRoom)} KiB | ${ratio(l.heapKiBPerLoadedRoom, hp?.heapKiBPerLoadedRoom)} |${leftCells}${rssLeftCell}`,
    );
  }
  const errors = own?.lines.filter((l) => l.bench === 'rooms' && l.kind === 'error') ?? [];
  for (const e of errors) out.push(`- ${e.server} failed: ${String(e.error).slice(0, 300)}`);
  out.push('');
  return out.join('\n');
}

function crdtSection(all: Line[]): string {
  const picked = latestRun(all, 'crdt');
  if (!picked) return '_No CRDT results yet._\n';
  const rows = picked.lines.filter((l) => l.bench === 'crdt' && !l.kind);
  const out = [runHeader(picked.lines, 'These figures'), ''];
  // The quick pass measures 10k only; sizes it did not measure come from the
  // latest real run that measured both CRDTs at that size (each pair from one run).
  const have = new Set(rows.map((l) => l.messages as number));
  const earlier = all.filter((l) => l.bench === 'crdt' && !l.kind && l.mode !== 'smoke' && l.runId !== picked.runId);
  for (const n of [...new Set(earlier.map((l) => l.messages as number))]) {
    if (have.has(n)) continue;
    const runIds = [...new Set(earlier.filter((l) => l.messages === n).map((l) => l.runId))];
    const runId = runIds
      .reverse()
      .find((id) =>
        ['yjs', 'automerge'].every((m) => earlier.some((l) => l.runId === id && l.messages === n && l.model === m)),
      );
    if (!runId) continue;
    const pair = earlier.filter((l) => l.runId === runId && l.messages === n);
    rows.push(...pair);
    const first = pair[0];
    if (first)
      out.push(
        `The ${num(n)}-message rows come from an earlier ${first.mode} run, \`${runId}\` (${first.at}, commit \`${first.commit}\`).`,
        '',
      );
  }
  out.push(
    "| messages | CRDT | encoded size | bytes/message | load ms | memory after load | append µs | bytes sent per append | apply a peer's append µs |",
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  const sizes = [...new Set(rows.map((l) => l.messages as number))].sort((a, b) => a - b);
  for (const n of sizes) {
    const y = rows.find((l) => l.messages === n && l.model === 'yjs');
    const a = rows.find((l) => l.messages === n && l.model === 'automerge');
    for (const l of [y, a]) {
      if (!l) continue;
      out.push(
        `| ${num(n)} | ${l.model === 'yjs' ? 'Yjs 13 (schema v1)' : 'Automerge 3'} | ${num(l.encodedBytes / 1024, 0)} KiB | ${num(l.bytesPerMessage, 1)} | ${num(l.loadMs, 1)} | ${num(l.loadedMemoryMiB, 1)} MiB heap+external, ${num(l.loadedRssMiB, 1)} MiB RSS | ${num(l.appendUs, 0)} | ${num(l.appendChangeBytes)} | ${num(l.applyRemoteUs, 0)} |`,
      );
    }
    if (y && a) {
      out.push(
        `| ${num(n)} | **Automerge ÷ Yjs** | ${ratio(a.encodedBytes, y.encodedBytes)} | | ${ratio(a.loadMs, y.loadMs)} | ${ratio(a.loadedMemoryMiB, y.loadedMemoryMiB)} | ${ratio(a.appendUs, y.appendUs)} | ${ratio(a.appendChangeBytes, y.appendChangeBytes)} | ${ratio(a.applyRemoteUs, y.applyRemoteUs)} |`,
      );
    }
  }
  const errors = picked.lines.filter((l) => l.bench === 'crdt' && l.kind === 'error');
  for (const e of errors)
    out.push('', `- ${e.model} at ${num(e.messages)} messages failed: ${String(e.error).slice(0, 200)}`);
  out.push('');
  return out.join('\n');
}

/** A `comparison` line of a per-service script, as `printComparison` (bench/src/mode.ts) writes it. */
type ComparisonRow = Comparison;

function isComparison(line: Record<string, unknown>): line is Record<string, unknown> & ComparisonRow {
  return (
    line.kind === 'comparison' &&
    typeof line.case === 'string' &&
    typeof line.value === 'number' &&
    typeof line.baselineValue === 'number'
  );
}

/** Three significant digits: the guard's ratio to the naive check is ~0.0001, fixed decimals would show 0.00×. */
const comparisonRatio = (a: number, b: number): string =>
  b > 0 && Number.isFinite(a)
    ? `${Number((a / b).toPrecision(3)).toLocaleString('en-US', { maximumSignificantDigits: 3 })}×`
    : '–';

function comparisonTable(rows: ComparisonRow[]): string {
  const digits = (v: number) => (Math.abs(v) < 10 ? 2 : Math.abs(v) < 100 ? 1 : 0);
  const out = [
    '| case | figure | measured | value | in-run baseline | baseline value | ratio |',
    '|---|---|---|--:|---|--:|--:|',
  ];
  for (const r of rows) {
    const better = r.better === 'higher' ? 'higher is better' : 'lower is better';
    out.push(
      `| ${r.case} | ${r.metric} (${r.unit}, ${better}) | ${r.subject} | ${num(r.value, digits(r.value))} | ${r.baseline} | ${num(r.baselineValue, digits(r.baselineValue))} | ${comparisonRatio(r.value, r.baselineValue)} |`,
    );
  }
  return out.join('\n');
}

function othersSection(all: Line[]): string {
  const picked = latestRun(all, 'other');
  if (!picked) return '_The other benchmarks have not been run yet (the smoke pass skips them)._\n';
  const lines = picked.lines.filter((l) => l.bench === 'other');
  const out = [runHeader(picked.lines, 'These lines'), ''];
  const sources = [...new Set(lines.map((l) => l.source as string))];
  for (const source of sources) {
    const mine = lines.filter((l) => l.source === source);
    const outcome = mine.find((l) => l.kind === 'outcome');
    out.push(`#### \`bench/${source}.ts\``, '');
    if (mine.some((l) => l.kind === 'missing')) {
      out.push('Not present in this commit.', '');
      continue;
    }
    if (mine.some((l) => l.kind === 'skipped')) {
      out.push('Skipped: the pass ran out of the time it gives the other benchmarks.', '');
      continue;
    }
    if (outcome) {
      const how = outcome.timedOut
        ? `stopped at its ${Math.round(outcome.budgetMs / 1000)} s budget`
        : `exit code ${outcome.exitCode}`;
      out.push(`${num(outcome.lines)} JSON lines in ${num(outcome.durationMs / 1000, 1)} s, ${how}.`, '');
    }
    const printed = mine.filter((l) => l.kind === 'line').map((l) => l.line as Record<string, unknown>);
    const comparisons = printed.filter(isComparison);
    if (comparisons.length > 0) out.push(comparisonTable(comparisons), '');
    const values = printed.filter((l) => !isComparison(l)).map((l) => JSON.stringify(l));
    if (values.length > 0) {
      // The script's own lines hold every figure; the table above is what to read first.
      const body = ['```json', ...values.slice(0, 40), '```'];
      out.push(
        ...(comparisons.length > 0
          ? ['<details><summary>Every line it printed</summary>', '', ...body, '', '</details>']
          : body),
        '',
      );
    }
    if (outcome?.stderrTail) out.push('Its stderr ended with:', '```', String(outcome.stderrTail).trim(), '```', '');
  }
  return out.join('\n');
}

const INTRO = `# Benchmarks

Generated by \`npm run bench\` from \`bench/results/results.jsonl\` (do not edit by hand; \`npm run bench -- --report\` rebuilds it).
Confab is measured against what a user would pick instead, **in the same run on the same machine**: every
peer is the real npm package started by the harness. Compare ratios within a run, not absolute numbers across machines.

| command | what it runs | time |
|---|---|---|
| \`npm run bench\` | quick pass: fan-out in rooms of 10 (100 connections) and 50 (1,000 connections) for Confab on SQLite and on PostgreSQL and both peers, one held load per scenario three times over, room memory, CRDTs at 10k messages, the other benchmarks with a short budget | about 8 minutes |
| \`npm run bench -- --full\` | every scenario (rooms of 10 and 50 × 100 and 1,000 connections), finer and longer steps, two held loads per scenario five times over, CRDTs at 10k and 100k | about 2 h 10 min (the fan-out sweep about 80 minutes, the held loads about 25) |
| \`npm run bench -- --smoke\` | a few seconds of each suite (Confab on SQLite, no PostgreSQL needed), for CI, to keep the harness from rotting | seconds |
| \`npm run bench -- --report\` | only rebuild this page | – |

Options: \`--only=fanout,latency,rooms,crdt,others\`, \`--servers=confab,confab-pg,hocuspocus,y-websocket\` (and the feature ladder's \`confab-mem,confab-noguard,confab-nobus\`), \`--scenarios=10x100,50x1000\`, \`--rates=40000,40000\` (held loads instead of the sweep), \`--no-report\`.
`;

const METHOD = `## How the fan-out is measured

- **Servers.** Each runs alone in its own Node process, on loopback: the **Confab sync server** with every production
  check on (EdDSA sync token verified per connection, the update guard on every update, the durable append to
  its update log before the acknowledgement, bus events committed with it into the in-process bus's log), once on **SQLite** (WAL,
  every commit synced before it is answered, what the all-in-one process uses by default) and once on **PostgreSQL** (a fresh database on
  the local server, what a deployment with \`DATABASE_URL\` uses); **bare
  \`@hocuspocus/server\` 4** with no extensions (no auth, no storage); **\`@y/websocket-server\` 0.1.1** wired as its own
  bin wires it (\`setupWSConnection\`, no persistence).
- **Workload.** Rooms of N clients; every client appends chat messages (room schema v1: \`{id, author, text,
  createdAt}\`, author = its own user id, ~80 characters of text) at the end of \`messages\`, each as its own Yjs update.
  The offered rate is swept upward in steps; a step is *sustained* when p99 ≤ 200 ms, no delivery is missing
  after the drain and no socket was closed (Confab closes the socket of a client whose update its guard refuses,
  so a closed socket would mean the workload was not valid chat); a failed step is tried again (once in the quick pass, twice in the full one) before the sweep stops. The servers of a scenario are swept **interleaved**: all are started and connected first, then each rate is measured on each server in turn (who goes first rotates), so a slow spell of a shared machine hits them all at about the same rates. **Deliveries** = messages × (N − 1): each message must reach every other client of its room.
- **Latency** is from the send to the receipt at each other client, per delivery, merged over all clients in a
  log histogram (1 % buckets).
- **Load generator.** Separate processes (whole rooms per process, so sender and receivers share a clock) that speak
  the protocol with pre-encoded frames instead of running a provider and a Y.Doc per client: the sender's update
  is encoded by hand (checked byte for byte against Yjs at start), receipt is found by a byte search for a marker
  (\`#@seq.sender.sentMicros;\`) in the received frame. Each room keeps one Y.Doc per process fed by one listening client,
  so every append's left origin is an item the server has confirmed: what a real client sends, and what the
  Confab guard accepts when many clients append at once. The generator's CPU per delivery and its event-loop delay
  are printed next to the server's: when the generator's loop delay grows, the latency includes its lag. Its CPU
  includes the kernel's work of receiving every frame on its own socket, as the server's includes sending it
  (\`BENCH_CPU_PROF=<dir>\` writes V8 CPU profiles of every child process to see where each one spends).
- **CPU per delivery** = the server process's user+system CPU (\`process.cpuUsage\` over IPC) during the step
  and its drain, divided by the deliveries. This is the fairest server-to-server figure: it does not depend on
  how much CPU the generator left over on a small machine.
- **Servers** run from a bundle of the benchmark's server program (plain Node, one chunk per server kind, as the
  container images run the services), not through a TypeScript loader.
- **Memory** = server RSS and JS heap after a full GC, minus the idle server's, divided by connections or rooms;
  "RSS, all connected" is the idle server's RSS plus what the connections added: the whole process.
  For rooms, a warm-up set is loaded and closed first, and each figure is taken at rest: from 1 s after the load,
  a full GC every 0.5 s until the heap moves by at most 32 KiB between two (10 s at most). So code compiled on
  the first load and work the load set off (events on their way to the bus) are not counted as the rooms',
  however busy the machine.
  RSS is coarse: allocator high-water marks, SQLite's page cache (up to its 2 MiB bound), on SQLite the storage
  thread's own heap (the main thread's collection does not reach it), and the heap V8 grew to during the load,
  which it keeps for a while after a full GC. Where the RSS per room after the clients left is about the RSS per
  loaded room, the rooms were not what held it. The heap is the steadier per-room figure.

### Reading the Confab figures

Confab acknowledges an update only once it is in the database (CONTRACT: an acknowledged update survives a
\`kill -9\`), and each accepted message also becomes a durable bus event. Stock Hocuspocus and y-websocket
acknowledge (or relay) from memory and store later, or never. So per message Confab does more: the guard checks
the update, it is applied and broadcast at once, and its log row and its event are written in one transaction
(appends that queue up behind a running commit share the next one: group commit; on SQLite the commit's fsync
runs on libuv's thread pool and compactions are written by a worker thread, so neither stops the event loop);
only then is the sender acknowledged (the token is checked once per connection, not per message). Its server CPU
per delivery (all of the process's threads)
at equal load shows that work; its "server cores busy" next to its latency in the step tables shows whether a
saturated step ran out of CPU (cores near 1: on this 2-core machine the load generator needs the other core) or
waited for commits (cores low, latency high), and the SQLite
commit latency measured at the top of this section gives the scale of that wait.
`;

const CRDT_INTRO = `## The CRDT choice: Yjs vs Automerge 3

The same chat model in both: the room schema v1 in Yjs through \`@confab/protocol\`'s accessors, and the same
lists and maps in Automerge 3 with message strings as \`ImmutableString\` (messages are replaced through
\`edits\`, never edited in place, like Yjs's plain JSON values). The Yjs room has 20 writers (client ids); one
writer's consecutive appends would merge into one Yjs item and flatter it. The Automerge room is written by one
actor, one change per message. Each case runs in a fresh process with \`--expose-gc\`:
encoded size (\`Y.encodeStateAsUpdate\` / \`Automerge.save\`), time to load it and read the message count, memory
after load (heap + external, where Automerge's WASM memory lives, and RSS), then appends through the API an
app uses (\`appendMessage\` / \`Automerge.change\`) and the same changes applied to a second loaded copy.

Two things to know when reading it: Automerge's JavaScript document is immutable, so \`Automerge.change\` rebuilds
the changed list's view and its append time grows with the room; and \`appendMessage\` uses \`Y.Array.push\`, which
walks from Yjs's highest search marker to the end: a freshly loaded document has none, so that append also grows
with the room (an \`insert(length, …)\` keeps a marker near the end and stays flat).
`;

/** A few sentences with the headline ratios, each from one run (the sections below say which). */
function summary(all: Line[]): string {
  const out: string[] = ['## Summary', ''];
  const fan = latestRun(all, 'fanout')?.lines.filter((l) => l.bench === 'fanout') ?? [];
  const scenarios = [...new Set(fan.filter((l) => l.kind === 'summary').map((l) => `${l.roomSize}x${l.connections}`))];
  const heldSummary = heldLoads(all).summary;
  for (const key of scenarios) {
    const [roomSize, connections] = key.split('x').map(Number);
    const sums = fan.filter((l) => l.kind === 'summary' && l.roomSize === roomSize && l.connections === connections);
    const get = (s: string) => sums.find((l) => l.server === s);
    const hp = get('hocuspocus');
    const parts = SERVER_ORDER.filter((s) => get(s)).map((s) => {
      const l = get(s);
      const vs =
        s !== 'hocuspocus' && hp
          ? ` (${ratio(l?.maxSustainedDeliveriesPerSec, hp.maxSustainedDeliveriesPerSec)} bare Hocuspocus)`
          : '';
      if (!l?.maxSustainedDeliveriesPerSec)
        return `${LABEL[s] ?? s} none (not even the lowest rate, ${num(fan.find((x) => x.kind === 'step')?.offeredDeliveriesPerSec)}/s)`;
      return `${LABEL[s] ?? s} ${num(l.maxSustainedDeliveriesPerSec)}${l.sweepCeilingReached ? '+' : ''}${vs}`;
    });
    out.push(
      `- **Rooms of ${roomSize}, ${num(connections)} connections**, highest sustained deliveries/s (p99 ≤ 200 ms): ${parts.join('; ')}.`,
    );
    const rows = fan.filter((l) => l.roomSize === roomSize && l.connections === connections);
    const vsBare = latencyVsBare(rows);
    if (vsBare.length > 0) {
      const parts = vsBare.map((v) => `${LABEL[v.server] ?? v.server} ${spreadText(v.p99)}`);
      out.push(
        `  - p99 latency as a multiple of bare Hocuspocus's at each load both sustained, median (range): ${parts.join('; ')}.`,
      );
    }
    const memory = SERVER_ORDER.filter((s) => s !== 'hocuspocus' && connectedRssMiB(rows, s) !== undefined).map(
      (s) =>
        `${LABEL[s] ?? s} ${num(connectedRssMiB(rows, s), 1)} MiB (${ratio(connectedRssMiB(rows, s), connectedRssMiB(rows, 'hocuspocus'))})`,
    );
    if (memory.length > 0 && connectedRssMiB(rows, 'hocuspocus') !== undefined) {
      out.push(
        `  - Server RSS with every client connected, as a multiple of bare Hocuspocus's ${num(connectedRssMiB(rows, 'hocuspocus'), 1)} MiB: ${memory.join('; ')}.`,
      );
    }
    const held = heldSummary.get(key);
    if (held) out.push(`  - ${held}.`);
    const ladder = ladderSummary(rows);
    if (ladder) out.push(`  - ${ladder}.`);
  }
  const crdt = all.filter((l) => l.bench === 'crdt' && !l.kind && l.mode !== 'smoke');
  const sizes = [...new Set(crdt.map((l) => l.messages as number))].sort((a, b) => b - a);
  for (const n of sizes.slice(0, 1)) {
    const runId = [...crdt].reverse().find((l) => l.messages === n)?.runId;
    const y = crdt.find((l) => l.runId === runId && l.messages === n && l.model === 'yjs');
    const a = crdt.find((l) => l.runId === runId && l.messages === n && l.model === 'automerge');
    if (y && a) {
      out.push(
        `- **CRDT at ${num(n)} messages**: Automerge 3 stores the room in ${ratio(a.encodedBytes, y.encodedBytes)} the bytes of Yjs, but loads ${ratio(a.loadMs, y.loadMs)} slower, takes ${ratio(a.loadedMemoryMiB, y.loadedMemoryMiB)} the memory, and appends ${ratio(a.appendUs, y.appendUs)} / applies a peer's append ${ratio(a.applyRemoteUs, y.applyRemoteUs)} slower.`,
      );
    }
  }
  if (out.length === 2) return '';
  out.push(
    '',
    'Absolute figures from a 2-core machine shared with other work are noisy; the sections below give each run, its load average and every step.',
    '',
  );
  return out.join('\n');
}

export function writeReport(): string {
  const all = readResults() as Line[];
  const fanout = fanoutSection(all);
  fs.mkdirSync(ASSETS, { recursive: true });
  // Charts of scenarios the report no longer shows would be stale: remove them.
  for (const file of fs.readdirSync(ASSETS)) {
    if (/^fanout-.*\.svg$/.test(file) && !(file in fanout.charts)) fs.rmSync(path.join(ASSETS, file));
  }
  for (const [file, svg] of Object.entries(fanout.charts)) fs.writeFileSync(path.join(ASSETS, file), svg);
  const doc = [
    INTRO,
    summary(all),
    '## Sync fan-out: Confab vs bare Hocuspocus vs y-websocket',
    '',
    fanout.text,
    METHOD,
    CRDT_INTRO,
    crdtSection(all),
    '## Other benchmarks (storage, guard, bus, auth tokens, notifier, client)',
    '',
    'Scripts written by the engineers of each part, run by the harness when present and scaled by the pass (`BENCH_MODE`): for each, its comparisons with the baseline it measured in the same run (ratio = value ÷ baseline), then every JSON line as it printed them.',
    '',
    othersSection(all),
  ].join('\n');
  fs.writeFileSync(DOC, doc);
  return path.relative(REPO_DIR, DOC);
}
