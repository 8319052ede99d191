import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../db/database';
import { waitFor } from '../testing';
import { runBusContract } from './contract';
import { createInProcessBus } from './inprocess';
import type { Delivery } from './port';
import { busDb } from './schema';

runBusContract('in-process on SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-bus-'));
  const database = openDatabase({ dataDir: dir });
  const logger = pino({ level: 'silent' });
  return {
    createBus: () => createInProcessBus({ database, logger, pollIntervalMs: 200 }),
    teardown: async () => {
      await database.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('in-process bus on SQLite', () => {
  const logger = pino({ level: 'silent' });
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups.length = 0;
  });

  function tempDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-bus-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  function open(dir: string): Database<unknown> {
    const database = openDatabase<unknown>({ dataDir: dir });
    cleanups.push(() => database.close());
    return database;
  }

  it('redelivers the event whose process died mid-handler, after its lease runs out, then goes on', async () => {
    const dir = tempDir();
    // The same Node as the tests (the machine's default node is too old for better-sqlite3's build).
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures/crash-child.ts'), 'sqlite', dir, 'crashy'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    cleanups.push(() => {
      child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += String(chunk);
    });
    await waitFor(() => out.includes('started'), { timeoutMs: 20_000, message: 'the child to start handling' });
    child.kill('SIGKILL');
    await exited;

    const bus = await createInProcessBus({ database: open(dir), logger, pollIntervalMs: 100 });
    cleanups.push(() => bus.close());
    const seen: [string, number][] = [];
    await bus.subscribe({
      durable: 'crashy',
      subjects: ['confab.crash.>'],
      handler: async (d) => {
        seen.push([d.event.id, d.attempt]);
      },
    });
    await waitFor(() => seen.length === 2, { timeoutMs: 5_000 });
    expect(seen).toEqual([
      ['crash-1', 2],
      ['crash-2', 1],
    ]);
  });

  it('dead-letters, without calling the handler, an event whose last allowed delivery was never acked', async () => {
    const database = open(tempDir());
    const bus = await createInProcessBus({ database, logger });
    cleanups.push(() => bus.close());
    const options = { durable: 'lastlost', subjects: ['confab.lastlost.>'], maxDeliver: 1, ackWaitMs: 500 };
    await (await bus.subscribe({ ...options, handler: async () => {} })).stop();
    await bus.publish('confab.lastlost.x', { id: 'lost-1' });
    // What a process that took the only allowed delivery and died leaves behind.
    const db = busDb(database);
    const row = await db.selectFrom('bus_events').select('seq').where('id', '=', 'lost-1').executeTakeFirstOrThrow();
    await db.updateTable('bus_consumers').set({ last_seq: row.seq }).where('durable', '=', 'lastlost').execute();
    await db
      .insertInto('bus_pending')
      .values({
        durable: 'lastlost',
        seq: row.seq,
        attempts: 1,
        next_attempt_at: 0,
        lease_until: Date.now() - 1,
        last_error: null,
        owner: 'dead',
      })
      .execute();

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
    await waitFor(() => letters.length === 1);
    expect(letters[0]?.event).toMatchObject({ subject: 'confab.lastlost.x', event: { id: 'lost-1' }, attempts: 1 });
    expect(handled).toEqual([]);
  });

  it('keeps undelivered events across a restart of the whole database', async () => {
    const dir = tempDir();
    const first = openDatabase<unknown>({ dataDir: dir });
    const bus1 = await createInProcessBus({ database: first, logger });
    const sub = await bus1.subscribe({ durable: 'later', subjects: ['confab.x.>'], handler: async () => {} });
    await sub.stop();
    await bus1.publish('confab.x.y', { id: 'kept' });
    await bus1.close();
    await first.close();

    const bus2 = await createInProcessBus({ database: open(dir), logger });
    cleanups.push(() => bus2.close());
    const seen: string[] = [];
    await bus2.subscribe({
      durable: 'later',
      subjects: ['confab.x.>'],
      handler: async (d) => {
        seen.push(d.event.id);
      },
    });
    await waitFor(() => seen.length === 1);
    expect(seen).toEqual(['kept']);
  });

  it('reports as outbox depth the events the slowest durable has not finished', async () => {
    const database = open(tempDir());
    const bus = await createInProcessBus({ database, logger });
    cleanups.push(() => bus.close());
    expect(await bus.outboxDepth()).toBe(0);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let handled = 0;
    const sub = await bus.subscribe({
      durable: 'slow',
      subjects: ['confab.x.>'],
      handler: async () => {
        await gate;
        handled++;
      },
    });
    for (let n = 0; n < 3; n++) await bus.publish('confab.x.y', { id: `d${n}` });
    // One in the handler (pending), two not yet handed over.
    await waitFor(async () => (await bus.outboxDepth()) === 3);
    release();
    await waitFor(() => handled === 3);
    await waitFor(async () => (await bus.outboxDepth()) === 0);
    await sub.stop();
  });

  it('wakes only the subscriptions whose subjects a publish matches', async () => {
    const database = open(tempDir());
    // Polls far apart: only a wake-up can make a subscription run a claim round during the test.
    const bus = await createInProcessBus({ database, logger, pollIntervalMs: 60_000 });
    cleanups.push(() => bus.close());
    const seen: string[] = [];
    const sub = await bus.subscribe({
      durable: 'auth-only',
      subjects: ['confab.auth.>'],
      handler: async (d) => {
        seen.push(d.subject);
      },
    });
    const cursor = async () =>
      Number(
        (
          await busDb(database)
            .selectFrom('bus_consumers')
            .select('last_seq')
            .where('durable', '=', 'auth-only')
            .executeTakeFirstOrThrow()
        ).last_seq,
      );
    // Let the subscription's first round (at subscribe) finish.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = await cursor();
    for (let n = 0; n < 20; n++) await bus.publish('confab.room.r1.message.created', { id: `m${n}` });
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Nobody woke it: no claim round ran (a round would have moved its cursor past the room events).
    expect(await cursor()).toBe(before);
    await bus.publish('confab.auth.session.revoked', { id: 'revoked-1' });
    await waitFor(() => seen.length === 1);
    expect(seen).toEqual(['confab.auth.session.revoked']);
    expect(await cursor()).toBeGreaterThanOrEqual(before + 21);
    await sub.stop();
  });

  it('prunes events older than the retention period, unless a durable still has them pending', async () => {
    const database = open(tempDir());
    let nowMs = 1_000_000;
    const bus = await createInProcessBus({
      database,
      logger,
      retentionMs: 60_000,
      pruneIntervalMs: 50,
      now: () => nowMs,
    });
    cleanups.push(() => bus.close());
    const sub = await bus.subscribe({
      durable: 'stuck',
      subjects: ['confab.keep.>'],
      backoffMs: [10 * 60_000],
      handler: async () => {
        throw new Error('not yet');
      },
    });
    await bus.publish('confab.old.x', { id: 'old' });
    await bus.publish('confab.keep.x', { id: 'kept-pending' });
    await waitFor(async () => (await bus.outboxDepth()) > 0);
    nowMs += 61_000;
    await bus.publish('confab.old.x', { id: 'young' });
    const rows = async () =>
      (
        await database.db
          .selectFrom('bus_events' as never)
          .select('id' as never)
          .execute()
      ).map((r) => (r as { id: string }).id);
    await waitFor(async () => !(await rows()).includes('old'), { message: 'old event pruned' });
    expect((await rows()).sort()).toEqual(['kept-pending', 'young']);
    // A brand-new durable starts at what is retained.
    const seen: string[] = [];
    const fresh = await bus.subscribe({
      durable: 'fresh',
      subjects: ['confab.old.>'],
      handler: async (d) => {
        seen.push(d.event.id);
      },
    });
    await waitFor(() => seen.length === 1);
    expect(seen).toEqual(['young']);
    await Promise.all([sub.stop(), fresh.stop()]);
  });

  it('stores a group commit of more events than one statement takes all or not at all', async () => {
    const database = open(tempDir());
    const bus = await createInProcessBus({ database, logger });
    cleanups.push(() => bus.close());
    // The 70th event breaks its statement (the second of the batch: 64 rows per statement on SQLite).
    await sql`create trigger refuse_poison before insert on bus_events when new.subject = 'confab.x.poison'
      begin select raise(abort, 'poison'); end`.execute(database.db);
    const subjects = Array.from({ length: 70 }, (_, i) => (i === 69 ? 'confab.x.poison' : 'confab.x.y'));
    // Published in one turn: one group commit takes them all.
    const results = await Promise.allSettled(subjects.map((subject, i) => bus.publish(subject, { id: `e${i}` })));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    const stored = await busDb(database)
      .selectFrom('bus_events')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst();
    expect(Number(stored?.n)).toBe(0);

    // The same batch without the poison is stored whole, once.
    await sql`drop trigger refuse_poison`.execute(database.db);
    await Promise.all(subjects.map((_, i) => bus.publish('confab.x.y', { id: `e${i}` })));
    const after = await busDb(database)
      .selectFrom('bus_events')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst();
    expect(Number(after?.n)).toBe(70);
  });

  it('rejects a publish when its database is gone, so the caller never believes an event is safe when it is not', async () => {
    const database = openDatabase<unknown>({ dataDir: tempDir() });
    const bus = await createInProcessBus({ database, logger });
    cleanups.push(() => bus.close());
    await database.close();
    await expect(bus.publish('confab.x.y', { id: 'lost?' })).rejects.toThrow();
    expect(await bus.healthy()).toBe(false);
  });
});
