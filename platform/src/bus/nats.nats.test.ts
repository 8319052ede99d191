import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  StorageType,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../db/database';
import { freePort, needService, SERVICES, uniqueSuffix, waitFor } from '../testing';
import { runBusContract } from './contract';
import { createNatsBus, type NatsBus, type NatsBusOptions } from './nats';
import type { Delivery } from './port';

const nats = await needService('nats');

describe.skipIf(!nats)('NATS JetStream bus', () => {
  runBusContract('NATS JetStream', async () => {
    const suffix = uniqueSuffix().replace(/[^A-Za-z0-9]/g, '');
    const stream = `CONFAB_T_${suffix}`;
    const subjectPrefix = `t${suffix}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-bus-nats-'));
    const database = openDatabase({ dataDir: dir });
    const logger = pino({ level: 'silent' });
    return {
      createBus: () =>
        createNatsBus({ url: SERVICES.nats.url, database, logger, stream, subjectPrefix, reconnectDelayMs: 100 }),
      teardown: async () => {
        const nc = await connect({ servers: SERVICES.nats.url });
        const jsm = await jetstreamManager(nc);
        await jsm.streams.delete(stream).catch(() => false);
        await nc.close();
        await database.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});

/** A nats-server of our own (JetStream, file store in `dir`) that the test can kill and restart on the same port. */
async function startOwnNatsServer(
  dir: string,
  port?: number,
): Promise<{ port: number; url: string; kill: () => Promise<void> }> {
  const chosen = port ?? (await freePort());
  const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(chosen), '-js', '-sd', dir], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(() => canConnect(chosen), { timeoutMs: 10_000, message: `nats-server on ${chosen}` });
  return {
    port: chosen,
    url: `nats://127.0.0.1:${chosen}`,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const NATS_SERVER = '/usr/sbin/nats-server';
const haveNatsServer = fs.existsSync(NATS_SERVER);

describe.skipIf(!haveNatsServer)('NATS bus while NATS is unreachable', () => {
  const logger = pino({ level: 'silent' });
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups.length = 0;
  });

  async function setup(natsDir: string, url: string) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-bus-outage-'));
    const database = openDatabase({ dataDir: dir });
    const bus = await createNatsBus({
      url,
      database,
      logger,
      stream: 'CONFAB_OUTAGE',
      subjectPrefix: 'outage',
      reconnectDelayMs: 50,
      maxReconnectDelayMs: 200,
      relayIntervalMs: 100,
    });
    cleanups.push(async () => {
      await bus.close();
      await database.close();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(natsDir, { recursive: true, force: true });
    });
    const handled = new Map<string, number>();
    await bus.subscribe({
      durable: 'outage',
      subjects: ['confab.room.>'],
      // A kill -9 may lose an ack the server had not written yet; it comes back after the ack wait.
      ackWaitMs: 1_000,
      handler: async (d) => {
        handled.set(d.event.id, (handled.get(d.event.id) ?? 0) + 1);
      },
    });
    return { bus, handled };
  }

  it('keeps events published while NATS is down in the outbox and delivers them, once each, when it is back', async () => {
    const natsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-nats-'));
    let server = await startOwnNatsServer(natsDir);
    cleanups.push(() => server.kill());
    const { bus, handled } = await setup(natsDir, server.url);

    await bus.publish('confab.room.r.read', { id: 'before' });
    await waitFor(() => handled.get('before') === 1, { timeoutMs: 10_000 });

    await server.kill();
    await waitFor(async () => !(await bus.healthy()), { timeoutMs: 10_000, message: 'bus to notice NATS is gone' });
    // Publishing does not fail; the events wait in the database.
    await bus.publish('confab.room.r.read', { id: 'during-1' });
    await bus.publish('confab.room.r.read', { id: 'during-2' });
    await bus.publish('confab.room.r.read', { id: 'during-1' });
    expect(await bus.outboxDepth()).toBe(2);
    expect(handled.has('during-1')).toBe(false);

    server = await startOwnNatsServer(natsDir, server.port);
    await waitFor(() => handled.has('during-1') && handled.has('during-2'), { timeoutMs: 15_000 });
    await waitFor(async () => (await bus.outboxDepth()) === 0, { timeoutMs: 5_000 });
    expect(await bus.healthy()).toBe(true);
    await new Promise((r) => setTimeout(r, 1_500));
    // Exactly once for what waited in the outbox; `before` is at least once (its ack may have died with the server).
    expect(handled.get('during-1')).toBe(1);
    expect(handled.get('during-2')).toBe(1);
    expect(handled.get('before')).toBeGreaterThanOrEqual(1);
    expect([...handled.keys()].sort()).toEqual(['before', 'during-1', 'during-2']);
  });

  it('stops and closes promptly while NATS is down, keeping what was published', async () => {
    const natsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-nats-'));
    const server = await startOwnNatsServer(natsDir);
    cleanups.push(() => server.kill());
    const { bus, handled } = await setup(natsDir, server.url);
    await bus.publish('confab.room.r.read', { id: 'one' });
    await waitFor(() => handled.get('one') === 1, { timeoutMs: 10_000 });
    await server.kill();
    await waitFor(async () => !(await bus.healthy()), { timeoutMs: 10_000 });
    await bus.publish('confab.room.r.read', { id: 'two' });
    const started = Date.now();
    await bus.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await bus.outboxDepth()).toBe(1);
  });

  it('accepts publishes before NATS has ever been reachable and relays them once it starts', async () => {
    const natsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-nats-'));
    const port = await freePort();
    const { bus, handled } = await setup(natsDir, `nats://127.0.0.1:${port}`);
    expect(await bus.healthy()).toBe(false);
    await bus.publish('confab.room.r.message.created', { id: 'early' });
    expect(await bus.outboxDepth()).toBe(1);

    const server = await startOwnNatsServer(natsDir, port);
    cleanups.push(() => server.kill());
    await waitFor(() => handled.get('early') === 1, { timeoutMs: 15_000 });
    expect(await bus.outboxDepth()).toBe(0);
  });
});

describe.skipIf(!nats)('NATS bus when a consumer process dies', () => {
  it('redelivers the event whose process died mid-handler after the ack wait, then goes on', async () => {
    const suffix = uniqueSuffix().replace(/[^A-Za-z0-9]/g, '');
    const stream = `CONFAB_T_${suffix}`;
    const subjectPrefix = `t${suffix}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-bus-crash-'));
    // The same Node as the tests (the machine's default node is too old for better-sqlite3's build).
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(import.meta.dirname, 'fixtures/crash-child.ts'),
        'nats',
        path.join(dir, 'child'),
        'crashy',
        SERVICES.nats.url,
        stream,
        subjectPrefix,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const database = openDatabase({ dataDir: path.join(dir, 'parent') });
    const bus = await createNatsBus({
      url: SERVICES.nats.url,
      database,
      logger: pino({ level: 'silent' }),
      stream,
      subjectPrefix,
    });
    try {
      let out = '';
      child.stdout.on('data', (chunk) => {
        out += String(chunk);
      });
      await waitFor(() => out.includes('started'), { timeoutMs: 20_000, message: 'the child to start handling' });
      child.kill('SIGKILL');
      await exited;
      const seen: [string, number][] = [];
      await bus.subscribe({
        durable: 'crashy',
        subjects: ['confab.crash.>'],
        ackWaitMs: 1_000,
        handler: async (d) => {
          seen.push([d.event.id, d.attempt]);
        },
      });
      await waitFor(() => seen.length === 2, { timeoutMs: 10_000 });
      expect(seen).toEqual([
        ['crash-1', 2],
        ['crash-2', 1],
      ]);
    } finally {
      child.kill('SIGKILL');
      await bus.close();
      await database.close();
      const nc = await connect({ servers: SERVICES.nats.url });
      await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
      await nc.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!nats)('NATS bus on the wire', () => {
  const logger = pino({ level: 'silent' });
  const suffix = uniqueSuffix().replace(/[^A-Za-z0-9]/g, '');
  const stream = `CONFAB_T_${suffix}`;
  const subjectPrefix = `t${suffix}`;
  let dir: string;
  let database: ReturnType<typeof openDatabase>;
  let nc: NatsConnection;
  const buses: NatsBus[] = [];
  const extraStreams: string[] = [];
  /** A bus on this file's stream (or the given one), closed in afterAll even when a test fails. */
  async function newBus(overrides: Partial<NatsBusOptions> = {}): Promise<NatsBus> {
    const bus = await createNatsBus({ url: SERVICES.nats.url, database, logger, stream, subjectPrefix, ...overrides });
    buses.push(bus);
    return bus;
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-bus-wire-'));
    database = openDatabase({ dataDir: dir });
    nc = await connect({ servers: SERVICES.nats.url });
  });
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
    const jsm = await jetstreamManager(nc);
    for (const name of [stream, ...extraStreams]) await jsm.streams.delete(name).catch(() => false);
    await nc.close();
    await database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates the stream with file storage and a duplicate window, and maps confab. onto the test prefix', async () => {
    const bus = await newBus();
    await waitFor(() => bus.healthy());
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    expect(info.config.subjects).toEqual([`${subjectPrefix}.>`]);
    expect(info.config.storage).toBe(StorageType.File);
    expect(info.config.duplicate_window).toBe(nanos(120_000));
    await bus.close();
  });

  it('stores each event under its subject with the header Nats-Msg-Id = the event id', async () => {
    const bus = await newBus();
    await bus.publish('confab.room.r1.message.created', { id: 'wire-1', text: 'hi' });
    const jsm = await jetstreamManager(nc);
    const stored = await waitFor(() =>
      jsm.streams.getMessage(stream, { last_by_subj: `${subjectPrefix}.room.r1.message.created` }),
    );
    expect(stored.header.get('Nats-Msg-Id')).toBe('wire-1');
    expect(stored.json()).toEqual({ id: 'wire-1', text: 'hi' });
    await bus.close();
  });

  it('lets JetStream drop a relayed event it already holds (a re-send after a lost ack)', async () => {
    const bus = await newBus();
    const subject = `${subjectPrefix}.auth.session.revoked`;
    const js = jetstream(nc);
    // As if the relay had sent it but the ack never came back, so the row is still in the outbox.
    await js.publish(subject, JSON.stringify({ id: 'resent' }), { msgID: 'resent' });
    const before = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
    await bus.publish('confab.auth.session.revoked', { id: 'resent' });
    await bus.publish('confab.auth.session.revoked', { id: 'marker' });
    await waitFor(async () => (await bus.outboxDepth()) === 0);
    const after = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
    expect(after - before).toBe(1);
    await bus.close();
  });

  it('configures each durable as an explicit-ack pull consumer and updates it when a restart brings new settings', async () => {
    const bus = await newBus();
    // Once connected, subscribe() creates the consumer before it resolves (while NATS is down it does so later).
    await waitFor(() => bus.healthy());
    const jsm = await jetstreamManager(nc);
    const first = await bus.subscribe({
      durable: 'settings',
      subjects: ['confab.settings.>'],
      maxDeliver: 3,
      ackWaitMs: 5_000,
      handler: async () => {},
    });
    let info = await jsm.consumers.info(stream, 'settings');
    expect(info.config).toMatchObject({
      durable_name: 'settings',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: `${subjectPrefix}.settings.>`,
      ack_wait: nanos(5_000),
      max_deliver: 4,
      max_ack_pending: 1,
    });
    await first.stop();
    const second = await bus.subscribe({
      durable: 'settings',
      subjects: ['confab.settings.>'],
      maxDeliver: 7,
      concurrency: 8,
      ackWaitMs: 9_000,
      handler: async () => {},
    });
    info = await jsm.consumers.info(stream, 'settings');
    expect(info.config).toMatchObject({ ack_wait: nanos(9_000), max_deliver: 8, max_ack_pending: 8 });
    await second.stop();
    await bus.close();
  });

  it('keeps a forgetAfterIdleMs durable while someone pulls from it, and lets the server delete it once nobody does', async () => {
    const bus = await newBus();
    await waitFor(() => bus.healthy());
    const jsm = await jetstreamManager(nc);
    const received: string[] = [];
    const sub = await bus.subscribe({
      durable: 'instance-x',
      subjects: ['confab.instance.>'],
      forgetAfterIdleMs: 1_000,
      handler: async ({ event }) => {
        received.push(event.id);
      },
    });
    expect((await jsm.consumers.info(stream, 'instance-x')).config.inactive_threshold).toBe(nanos(1_000));
    // Three thresholds with no event: the pending pull keeps the consumer, and it still delivers.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await bus.publish('confab.instance.ping', { id: 'after-quiet' });
    await waitFor(() => received.includes('after-quiet'));
    await sub.stop();
    // Nobody pulls any more: the server deletes it (it checks inactivity on its own timer).
    await waitFor(
      () =>
        jsm.consumers.info(stream, 'instance-x').then(
          () => false,
          (error: unknown) => error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound,
        ),
      { timeoutMs: 15_000, intervalMs: 250 },
    );
    await bus.close();
  });

  it('dead-letters, without calling the handler, an event whose last allowed delivery was never acked', async () => {
    const bus = await newBus();
    await waitFor(() => bus.healthy());
    const options = { durable: 'lastlost', subjects: ['confab.lastlost.>'], maxDeliver: 1, ackWaitMs: 500 };
    await (await bus.subscribe({ ...options, handler: async () => {} })).stop();
    await bus.publish('confab.lastlost.x', { id: 'lost-1' });
    await waitFor(async () => (await bus.outboxDepth()) === 0);
    // A process takes the only delivery it is allowed and dies without acking.
    const taken = await jetstream(nc)
      .consumers.get(stream, 'lastlost')
      .then((c) => c.next({ expires: 2_000 }));
    expect(taken?.info.deliveryCount).toBe(1);

    const handled: string[] = [];
    const letters: Delivery[] = [];
    await bus.subscribe({
      ...options,
      handler: async (d) => {
        handled.push(d.event.id);
      },
    });
    await bus.subscribe({
      durable: 'lastlost_dlq',
      subjects: ['confab.deadletter.lastlost'],
      handler: async (d) => {
        letters.push(d);
      },
    });
    await waitFor(() => letters.length === 1, { timeoutMs: 10_000 });
    expect(letters[0]?.event).toMatchObject({ subject: 'confab.lastlost.x', event: { id: 'lost-1' }, attempts: 1 });
    expect(handled).toEqual([]);
    await bus.close();
  });

  it('recreates the stream when it is deleted under a live connection, and keeps delivering', async () => {
    const ownStream = `${stream}_DEL`;
    const ownPrefix = `${subjectPrefix}del`;
    extraStreams.push(ownStream);
    const bus = await newBus({ stream: ownStream, subjectPrefix: ownPrefix, relayIntervalMs: 100 });
    const seen: string[] = [];
    await waitFor(() => bus.healthy());
    await bus.subscribe({
      durable: 'survivor',
      subjects: ['confab.del.>'],
      handler: async (d) => {
        seen.push(d.event.id);
      },
    });
    await bus.publish('confab.del.x', { id: 'before-delete' });
    await waitFor(() => seen.length === 1);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(ownStream);
    await bus.publish('confab.del.x', { id: 'after-delete' });
    await waitFor(() => seen.includes('after-delete'), {
      timeoutMs: 15_000,
      message: 'delivery after the stream came back',
    });
    expect((await jsm.streams.info(ownStream)).config.subjects).toEqual([`${ownPrefix}.>`]);
  });
});
