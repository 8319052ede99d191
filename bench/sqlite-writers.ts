/**
 * The probe that chose the sync server's SQLite layout (docs/sync.md,
 * "Twentieth pass"; built in the twenty-first as `loop+writer`), kept to
 * measure it again in isolation. One workload, three ways of carrying it,
 * taking turns in one run:
 *
 * - `thread` (until the twenty-first pass): one connection in a worker thread
 *   (`src/sqlite-thread.ts`, `synchronous = FULL`) runs the hot path's group commits,
 *   the compactions' writes and, through autocheckpoint, the checkpoints.
 * - `loop`: the one connection on the event loop, `synchronous = NORMAL`,
 *   each commit acknowledged after an fdatasync of the WAL on libuv's pool;
 *   compactions and checkpoints on the loop too (the fifteenth pass, reverted).
 * - `loop+writer`: the hot path as in `loop` with `busy_timeout = 0` and no
 *   autocheckpoint (a commit that finds the write lock taken tries again a
 *   millisecond later); a second thread with its own connection
 *   (`synchronous = FULL`) writes the compactions and runs a PASSIVE checkpoint
 *   after each.
 *
 * Workload: a group commit of `--rows` log rows (130 bytes each) every 2 ms,
 * and every 250 ms a compaction's write: a 60 KB snapshot row and the deletion
 * of that room's older log rows. Reported per way: acknowledgement latency
 * (request to durable) and the event loop's delay (what every other room of
 * the process would feel), p50/p99/max, with ratios against `thread`.
 *
 *   npx tsx bench/sqlite-writers.ts [--seconds=10] [--rounds=3] [--rows=8] [--restart]
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { SqliteWorker } from './src/sqlite-thread';

type Way = 'thread' | 'loop' | 'loop+writer';
const WAYS: readonly Way[] = ['thread', 'loop', 'loop+writer'];

const option = (name: string, fallback: number) => {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.slice(name.length + 3)) : fallback;
};
const SECONDS = option('seconds', 10);
const ROUNDS = option('rounds', 3);
const ROWS = option('rows', 8);
const ROOMS = 50;
const COMMIT_EVERY_MS = 2;
const COMPACT_EVERY_MS = 250;
const SNAPSHOT_BYTES = 60_000;
/** `--restart`: the writer makes a one-row write after each checkpoint, so it (not the loop) starts the WAL over. */
const RESTART = process.argv.includes('--restart');

const require = createRequire(import.meta.url);
const driverPath = require.resolve('better-sqlite3');
const fdatasync = promisify(fs.fdatasync);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const SCHEMA = `CREATE TABLE log (room TEXT NOT NULL, seq INTEGER NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY (room, seq));
CREATE TABLE snapshot (room TEXT PRIMARY KEY, bytes BLOB NOT NULL)`;
const INSERT = 'INSERT INTO log (room, seq, bytes) VALUES (?, ?, ?)';
const SNAPSHOT = 'INSERT OR REPLACE INTO snapshot (room, bytes) VALUES (?, ?)';
const FOLD = 'DELETE FROM log WHERE room = ? AND seq <= ?';

/** The compaction writer of `loop+writer`: plain CommonJS in its own thread, its own connection. */
const WRITER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const SQLite = require(workerData.driverPath);
const db = new SQLite(workerData.file);
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 5000');
const snapshot = db.prepare(${JSON.stringify(SNAPSHOT)});
const fold = db.prepare(${JSON.stringify(FOLD)});
const write = db.transaction((room, bytes, upTo) => { snapshot.run(room, bytes); fold.run(room, upTo); });
// The first write after a complete checkpoint starts the WAL over and syncs its header: made here, not on the loop.
db.exec('CREATE TABLE IF NOT EXISTS mark (id INTEGER PRIMARY KEY, at INTEGER)');
const mark = db.prepare('INSERT OR REPLACE INTO mark (id, at) VALUES (1, ?)');
const restartMark = () => mark.run(Date.now());
parentPort.on('message', (m) => {
  if (m.close) { db.close(); parentPort.postMessage({ id: m.id }); return; }
  write(m.room, Buffer.from(m.bytes), m.upTo);
  db.pragma('wal_checkpoint(PASSIVE)');
  if (workerData.restart) restartMark();
  parentPort.postMessage({ id: m.id });
});
`;

interface Carrier {
  commit(rows: Array<[string, number, Uint8Array]>): Promise<void>;
  compact(room: string, bytes: Uint8Array, upTo: number): Promise<void>;
  close(): Promise<void>;
  busyRetries: number;
  /** The longest stretch the loop spent inside SQLite for one commit or compaction (0 for `thread`). */
  longestBlockMs: number;
}

function openDb(file: string, synchronous: 'NORMAL' | 'FULL', extra: string[]) {
  const SQLite = require(driverPath) as typeof import('better-sqlite3');
  const db = new SQLite(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  for (const pragma of extra) db.pragma(pragma);
  return db;
}

async function threadCarrier(file: string): Promise<Carrier> {
  const setup = openDb(file, 'FULL', []);
  setup.exec(SCHEMA);
  setup.close();
  const worker = new SqliteWorker(file);
  return {
    busyRetries: 0,
    longestBlockMs: 0,
    async commit(rows) {
      await worker.batch(rows.map((row) => ({ sql: INSERT, parameters: row })));
    },
    async compact(room, bytes, upTo) {
      await worker.batch([
        { sql: SNAPSHOT, parameters: [room, bytes] },
        { sql: FOLD, parameters: [room, upTo] },
      ]);
    },
    close: () => worker.close(),
  };
}

/** The second writer of `loop+writer`: compactions sent to its thread, answered once written and checkpointed. */
function compactionWriter(file: string): Pick<Carrier, 'compact' | 'close'> {
  const writer = new Worker(WRITER_SOURCE, { eval: true, workerData: { driverPath, file, restart: RESTART } });
  const waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  let nextId = 0;
  writer.on('message', ({ id }: { id: number }) => {
    waiting.get(id)?.resolve();
    waiting.delete(id);
  });
  writer.on('error', (error) => {
    for (const waiter of waiting.values()) waiter.reject(error);
    waiting.clear();
  });
  const ask = (message: object) =>
    new Promise<void>((resolve, reject) => {
      const id = ++nextId;
      waiting.set(id, { resolve, reject });
      writer.postMessage({ id, ...message });
    });
  return {
    compact: (room, bytes, upTo) => ask({ room, bytes, upTo }),
    async close() {
      await ask({ close: true });
      await writer.terminate();
    },
  };
}

async function loopCarrier(file: string, withWriter: boolean): Promise<Carrier> {
  const db = openDb(file, 'NORMAL', withWriter ? ['busy_timeout = 0', 'wal_autocheckpoint = 0'] : []);
  db.exec(SCHEMA);
  const walFd = fs.openSync(`${file}-wal`, 'r+');
  const insert = db.prepare(INSERT);
  const begin = db.prepare('BEGIN IMMEDIATE');
  const end = db.prepare('COMMIT');
  const snapshot = db.prepare(SNAPSHOT);
  const fold = db.prepare(FOLD);
  const blocked = (since: number) => {
    carrier.longestBlockMs = Math.max(carrier.longestBlockMs, performance.now() - since);
  };
  const writer = withWriter ? compactionWriter(file) : null;
  const carrier: Carrier = {
    busyRetries: 0,
    longestBlockMs: 0,
    async commit(rows) {
      let since = performance.now();
      for (;;) {
        try {
          begin.run();
          break;
        } catch (error) {
          if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
          carrier.busyRetries++;
          await sleep(1);
          since = performance.now();
        }
      }
      for (const row of rows) insert.run(...row);
      end.run();
      blocked(since);
      await fdatasync(walFd);
    },
    compact:
      writer?.compact ??
      (async (room, bytes, upTo) => {
        const since = performance.now();
        db.transaction(() => {
          snapshot.run(room, bytes);
          fold.run(room, upTo);
        })();
        blocked(since);
        await fdatasync(walFd);
      }),
    async close() {
      fs.closeSync(walFd);
      await writer?.close();
      db.close();
    },
  };
  return carrier;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
};
const round = (n: number) => Math.round(n * 100) / 100;

interface Figures {
  way: Way;
  round: number;
  commits: number;
  compactions: number;
  busyRetries: number;
  longestBlockMs: number;
  ackP50Ms: number;
  ackP99Ms: number;
  ackMaxMs: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

async function run(way: Way, roundNo: number, dir: string): Promise<Figures> {
  const file = path.join(dir, `${way.replace('+', '-')}-${roundNo}.db`);
  const carrier = way === 'thread' ? await threadCarrier(file) : await loopCarrier(file, way === 'loop+writer');
  const payload = new Uint8Array(130).fill(7);
  const snapshotBytes = new Uint8Array(SNAPSHOT_BYTES).fill(3);
  const ackMs: number[] = [];
  let seq = 0;
  let compactions = 0;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const until = performance.now() + SECONDS * 1000;
  const compacting = (async () => {
    while (performance.now() < until) {
      await sleep(COMPACT_EVERY_MS);
      await carrier.compact(`r${compactions % ROOMS}`, snapshotBytes, seq - ROWS * ROOMS);
      compactions++;
    }
  })();
  while (performance.now() < until) {
    const rows: Array<[string, number, Uint8Array]> = [];
    for (let i = 0; i < ROWS; i++, seq++) rows.push([`r${seq % ROOMS}`, seq, payload]);
    const start = performance.now();
    await carrier.commit(rows);
    ackMs.push(performance.now() - start);
    await sleep(COMMIT_EVERY_MS);
  }
  await compacting;
  delay.disable();
  await carrier.close();
  return {
    way,
    round: roundNo,
    commits: ackMs.length,
    compactions,
    busyRetries: carrier.busyRetries,
    longestBlockMs: round(carrier.longestBlockMs),
    ackP50Ms: round(percentile(ackMs, 0.5)),
    ackP99Ms: round(percentile(ackMs, 0.99)),
    ackMaxMs: round(Math.max(...ackMs)),
    loopDelayP99Ms: round(delay.percentile(99) / 1e6),
    loopDelayMaxMs: round(delay.max / 1e6),
  };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-sqlite-writers-'));
try {
  const all: Figures[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    for (const way of WAYS) {
      const figures = await run(way, r, dir);
      all.push(figures);
      process.stdout.write(`${JSON.stringify({ bench: 'sqlite-writers', kind: 'round', ...figures })}\n`);
    }
  }
  const median = (way: Way, key: keyof Figures) =>
    percentile(
      all.filter((f) => f.way === way).map((f) => f[key] as number),
      0.5,
    );
  for (const way of WAYS) {
    const summary: Record<string, unknown> = { bench: 'sqlite-writers', kind: 'median', way };
    for (const key of ['ackP50Ms', 'ackP99Ms', 'ackMaxMs', 'loopDelayP99Ms', 'loopDelayMaxMs'] as const) {
      summary[key] = median(way, key);
      summary[`${key}VsThread`] = round(median(way, key) / median('thread', key));
    }
    summary.busyRetries = median(way, 'busyRetries');
    summary.longestBlockMs = median(way, 'longestBlockMs');
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
