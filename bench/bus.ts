/**
 * Event bus throughput, publish → handled, in events per second:
 * - `jetstream-raw`: plain JetStream publish (with Nats-Msg-Id) and a durable
 *   pull consumer with explicit acks, no outbox: the baseline.
 * - `nats-bus`: createNatsBus (database outbox on SQLite → relay → JetStream → consumer).
 * - `inprocess-sqlite`: createInProcessBus on an SQLite file (synchronous=FULL).
 * - `inprocess-postgres`: the same on PostgreSQL, when it is reachable.
 * Each variant runs at consumer concurrency 1 (in order) and 64; publishers
 * keep `PUBLISH_WINDOW` publishes in flight, as many request handlers would.
 * Each measurement is repeated (interleaved with the baseline) and the median
 * reported, with every run's figure, since a shared machine is noisy. Every
 * line carries `ratioToBaseline` = its median events/s over the raw
 * JetStream median at the same concurrency, measured in the same process.
 *
 *   BENCH_MODE=smoke|quick|full npx tsx bench/bus.ts
 * (events per run × runs: 200 × 1, 400 × 3, 10,000 × 5), JSON lines on stdout,
 * plus a `comparison` line per variant (bench/src/mode.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInProcessBus, createNatsBus, type EventBus, openDatabase } from '@confab/platform';
import { createTestPostgres, needService, SERVICES, uniqueSuffix } from '@confab/platform/testing';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { byMode, printComparison } from './src/mode';

// quick: ~10 s on 2 cores with NATS and PostgreSQL up (setup included).
const EVENTS = byMode({ smoke: 200, quick: 400, full: 10_000 });
const REPEATS = byMode({ smoke: 1, quick: 3, full: 5 });
const PUBLISH_WINDOW = 32;
const CONCURRENCIES = [1, 64];
const logger = pino({ level: 'silent' });

interface Result {
  variant: string;
  concurrency: number;
  events: number;
  ms: number;
  eventsPerSec: number;
}

function payload(n: number, suffix: string) {
  return {
    id: `bench-${suffix}-${n}`,
    roomId: 'r1',
    messageId: `m${n}`,
    authorId: 'u1',
    text: 'hello there, this is a chat message of ordinary length',
    replyTo: null,
    mentions: [],
    createdAt: Date.now(),
    onlineUserIds: ['u2', 'u3'],
  };
}

/** Runs `publish(n)` for n in [0, EVENTS) with a bounded window of calls in flight. */
async function publishAll(publish: (n: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: PUBLISH_WINDOW }, async () => {
      while (next < EVENTS) await publish(next++);
    }),
  );
}

function waitUntil(condition: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (condition()) resolve();
      else if (Date.now() > deadline) reject(new Error('benchmark run timed out'));
      else setTimeout(tick, 2);
    };
    tick();
  });
}

async function runBus(variant: string, concurrency: number, bus: EventBus): Promise<Result> {
  const suffix = uniqueSuffix();
  let handled = 0;
  const sub = await bus.subscribe({
    durable: `bench_${concurrency}_${suffix.replace(/[^A-Za-z0-9]/g, '')}`,
    subjects: [`confab.bench${concurrency}.>`],
    concurrency,
    handler: async () => {
      handled++;
    },
  });
  const start = performance.now();
  await publishAll((n) => bus.publish(`confab.bench${concurrency}.room.r1.message.created`, payload(n, suffix)));
  await waitUntil(() => handled >= EVENTS);
  const ms = performance.now() - start;
  await sub.stop();
  return { variant, concurrency, events: EVENTS, ms: Math.round(ms), eventsPerSec: Math.round((EVENTS / ms) * 1000) };
}

async function runRawJetStream(concurrency: number, stream: string, prefix: string): Promise<Result> {
  const nc = await connect({ servers: SERVICES.nats.url });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const durable = `raw_${concurrency}_${uniqueSuffix().replace(/[^A-Za-z0-9]/g, '')}`;
  const subject = `${prefix}.raw${concurrency}.room.r1.message.created`;
  await jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: `${prefix}.raw${concurrency}.>`,
    max_ack_pending: concurrency,
  });
  const consumer = await js.consumers.get(stream, durable);
  let handled = 0;
  const messages = await consumer.consume({ max_messages: concurrency });
  const consuming = (async () => {
    for await (const m of messages) {
      JSON.parse(m.string());
      m.ack();
      handled++;
      if (handled >= EVENTS) break;
    }
  })();
  const suffix = uniqueSuffix();
  const start = performance.now();
  await publishAll((n) => {
    const event = payload(n, suffix);
    return js.publish(subject, JSON.stringify(event), { msgID: event.id });
  });
  await waitUntil(() => handled >= EVENTS);
  const ms = performance.now() - start;
  await messages.close();
  await consuming;
  await nc.close();
  return {
    variant: 'jetstream-raw',
    concurrency,
    events: EVENTS,
    ms: Math.round(ms),
    eventsPerSec: Math.round((EVENTS / ms) * 1000),
  };
}

async function main(): Promise<void> {
  const results: Result[] = [];
  const haveNats = await needService('nats');
  const havePg = await needService('postgres');
  const suffix = uniqueSuffix().replace(/[^A-Za-z0-9]/g, '');
  const stream = `BENCH_${suffix}`;
  const prefix = `b${suffix}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-bench-bus-'));
  const cleanups: (() => Promise<unknown>)[] = [
    () => Promise.resolve(fs.rmSync(dir, { recursive: true, force: true })),
  ];

  try {
    if (haveNats) {
      // The stream the raw baseline uses; the bus creates its own the same way (file storage, 2 min dedupe window).
      const natsDb = openDatabase({ dataDir: dir, sqliteFile: 'nats-outbox.db' });
      const natsBus = await createNatsBus({
        url: SERVICES.nats.url,
        database: natsDb,
        logger,
        stream,
        subjectPrefix: prefix,
      });
      cleanups.unshift(async () => {
        await natsBus.close();
        await natsDb.close();
        const nc = await connect({ servers: SERVICES.nats.url });
        await (await jetstreamManager(nc)).streams.delete(stream);
        await nc.close();
      });
      await waitUntil(() => true);
      while (!(await natsBus.healthy())) await new Promise((r) => setTimeout(r, 20));
      for (const concurrency of CONCURRENCIES) {
        for (let r = 0; r < REPEATS; r++) {
          results.push(await runRawJetStream(concurrency, stream, prefix));
          results.push(await runBus('nats-bus', concurrency, natsBus));
        }
      }
    }

    const sqlite = openDatabase({ dataDir: dir, sqliteFile: 'inprocess.db' });
    const sqliteBus = await createInProcessBus({ database: sqlite, logger });
    cleanups.unshift(async () => {
      await sqliteBus.close();
      await sqlite.close();
    });
    for (const concurrency of CONCURRENCIES) {
      for (let r = 0; r < REPEATS; r++) results.push(await runBus('inprocess-sqlite', concurrency, sqliteBus));
    }

    if (havePg) {
      const store = await createTestPostgres();
      const pgDb = openDatabase({ databaseUrl: store.url, dataDir: dir });
      const pgBus = await createInProcessBus({ database: pgDb, logger });
      cleanups.unshift(async () => {
        await pgBus.close();
        await pgDb.close();
        await store.drop();
      });
      for (const concurrency of CONCURRENCIES) {
        for (let r = 0; r < REPEATS; r++) results.push(await runBus('inprocess-postgres', concurrency, pgBus));
      }
    }
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  }

  const date = new Date().toISOString();
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? 0;
  };
  const groups = new Map<string, Result[]>();
  for (const r of results)
    groups.set(`${r.variant}/${r.concurrency}`, [...(groups.get(`${r.variant}/${r.concurrency}`) ?? []), r]);
  const medianOf = (variant: string, concurrency: number) =>
    median((groups.get(`${variant}/${concurrency}`) ?? []).map((r) => r.eventsPerSec));
  for (const runs of groups.values()) {
    const { variant, concurrency } = runs[0] as Result;
    const eventsPerSec = medianOf(variant, concurrency);
    const baseline = groups.has(`jetstream-raw/${concurrency}`) ? medianOf('jetstream-raw', concurrency) : null;
    const ratioToBaseline = baseline ? Number((eventsPerSec / baseline).toFixed(3)) : null;
    const line = {
      bench: 'bus',
      date,
      variant,
      concurrency,
      events: EVENTS,
      publishWindow: PUBLISH_WINDOW,
      eventsPerSec,
      runs: runs.map((r) => r.eventsPerSec),
      baseline: 'jetstream-raw',
      ratioToBaseline,
      loadAverage1m: Number(os.loadavg()[0]?.toFixed(2)),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    if (baseline && variant !== 'jetstream-raw')
      printComparison('bus', {
        case: `consumer concurrency ${concurrency}`,
        metric: 'publish → handled',
        unit: 'events/s',
        subject: variant,
        value: Math.round(eventsPerSec),
        baseline: 'raw JetStream (no outbox)',
        baselineValue: Math.round(baseline),
        better: 'higher',
      });
  }
}

await main();
