/**
 * Notifier throughput: `message.created` events per second for one room of
 * 500 members with mixed preferences (a third `all`, a third `mentions`, a
 * sixth `none`, a sixth `all` with quiet hours; every tenth message mentions
 * five people), through the in-process bus (SQLite) and through NATS
 * JetStream (PostgreSQL). Each event stores up to 499 in-app notifications
 * and schedules their emails; pushes are off (no subscriptions) so the figure
 * is the notifier's own work, not a push service's latency.
 * Prints one JSON line per case, and a `comparison` line (bench/src/mode.ts) of
 * NATS against the in-process bus. Run: BENCH_MODE=smoke|quick|full npx tsx bench/notifier.ts
 * (members × events: 50 × 10, 500 × 200, 500 × 500).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadNotifierConfig, startNotifier } from '@confab/notifier';
import {
  createInProcessBus,
  createLogger,
  createNatsBus,
  type Database,
  type Directory,
  type EventBus,
  openDatabase,
  type SessionVerifier,
} from '@confab/platform';
import { createTestPostgres, needService, SERVICES, uniqueSuffix } from '@confab/platform/testing';
import { newEventId, newMessageId, subjects } from '@confab/protocol';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { byMode, printComparison } from './src/mode';

// quick: ~10 s with both buses; most of a case is the members' preferences setup and the first events.
const EVENTS = byMode({ smoke: 10, quick: 200, full: 500 });
const MEMBERS = byMode({ smoke: 50, quick: 500, full: 500 });
const logger = createLogger({ name: 'bench-notifier', level: 'warn' });

function line(data: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ bench: 'notifier', members: MEMBERS, events: EVENTS, ...data })}\n`);
}

const memberIds = Array.from({ length: MEMBERS }, (_, i) => `member${i}`);
const directory: Directory = {
  room: async (roomId) => ({
    id: roomId,
    name: 'Bench room',
    members: memberIds.map((id) => ({ id, email: `${id}@bench.test`, displayName: id, role: 'member' as const })),
  }),
  user: async (userId) => ({ id: userId, email: `${userId}@bench.test`, displayName: userId }),
  roomIdsOf: async () => ['bench'],
};
const sessions: SessionVerifier = {
  verify: async ({ authorization }) => {
    const userId = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    return userId ? { userId, sessionId: `s-${userId}` } : null;
  },
};

function preferencesFor(i: number): Record<string, unknown> {
  switch (i % 6) {
    case 0:
    case 1:
      return { default: 'all' };
    case 2:
    case 3:
      return { default: 'mentions' };
    case 4:
      return { rooms: { bench: 'none' } };
    default:
      return { default: 'all', quietHours: { start: '00:00', end: '23:59', timeZone: 'Europe/Berlin' } };
  }
}

async function runCase(name: string, database: Database<unknown>, bus: EventBus, dataDir: string): Promise<number> {
  const registry = new Registry();
  const handle = await startNotifier({
    config: loadNotifierConfig({ DATA_DIR: dataDir }),
    logger,
    database,
    bus,
    sessions,
    directory,
    registry,
  });
  const server = http.createServer((req, res) => handle.handleRequest(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (let i = 0; i < MEMBERS; i++) {
    const res = await fetch(`${base}/api/notifications/preferences`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${memberIds[i]}`, 'content-type': 'application/json' },
      body: JSON.stringify(preferencesFor(i)),
    });
    if (res.status !== 200) throw new Error(`preferences: ${res.status} ${await res.text()}`);
  }
  const handled = async () => {
    const metric = (await registry.getSingleMetric('confab_notifier_events_total')?.get())?.values ?? [];
    return metric.reduce((sum, v) => sum + v.value, 0);
  };
  const started = performance.now();
  for (let n = 0; n < EVENTS; n++) {
    const author = memberIds[n % MEMBERS] ?? 'member0';
    await bus.publish(subjects.messageCreated('bench'), {
      id: newEventId(),
      roomId: 'bench',
      messageId: newMessageId(),
      authorId: author,
      text: `bench message ${n}`,
      replyTo: null,
      mentions: n % 10 === 0 ? memberIds.slice(1, 6) : [],
      createdAt: Date.now(),
      onlineUserIds: memberIds.slice(0, 20),
    });
  }
  const published = performance.now();
  while ((await handled()) < EVENTS) await new Promise((r) => setTimeout(r, 20));
  const elapsedS = (performance.now() - started) / 1000;
  const deliveries = (await registry.getSingleMetric('confab_notifier_deliveries_total')?.get())?.values ?? [];
  const inApp = deliveries.filter((v) => v.labels.channel === 'inapp').reduce((sum, v) => sum + v.value, 0);
  const eventsPerSecond = Math.round(EVENTS / elapsedS);
  line({
    case: name,
    eventsPerSecond,
    inAppNotificationsPerSecond: Math.round(inApp / elapsedS),
    publishMs: Math.round(published - started),
    totalMs: Math.round(elapsedS * 1000),
  });
  server.close();
  await handle.stop();
  return eventsPerSecond;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-notifier-'));
let inProcessEventsPerSecond = 0;
try {
  {
    const database = openDatabase<unknown>({ dataDir: tmp, sqliteFile: 'inprocess.db' });
    const bus = await createInProcessBus({ database, logger });
    inProcessEventsPerSecond = await runCase('inprocess_sqlite', database, bus, tmp);
    await bus.close();
    await database.close();
  }
  if ((await needService('nats')) && (await needService('postgres'))) {
    const pg = await createTestPostgres();
    const database = openDatabase<unknown>({ databaseUrl: pg.url, dataDir: tmp });
    const suffix = uniqueSuffix().replace(/[^A-Za-z0-9]/g, '');
    const bus = await createNatsBus({
      url: SERVICES.nats.url,
      database,
      logger,
      stream: `BENCH_NOTIFIER_${suffix}`,
      subjectPrefix: `bench${suffix}`,
    });
    const natsEventsPerSecond = await runCase('nats_postgres', database, bus, tmp);
    printComparison('notifier', {
      case: `room of ${MEMBERS} members, ${EVENTS} messages`,
      metric: 'message.created handled',
      unit: 'events/s',
      subject: 'NATS JetStream + PostgreSQL',
      value: natsEventsPerSecond,
      baseline: 'in-process bus + SQLite',
      baselineValue: inProcessEventsPerSecond,
      better: 'higher',
    });
    await bus.close();
    const nc = await connect({ servers: SERVICES.nats.url });
    await (await jetstreamManager(nc)).streams.delete(`BENCH_NOTIFIER_${suffix}`).catch(() => false);
    await nc.close();
    await database.close();
    await pg.drop();
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
