import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../db/database';
import { createTestPostgres, needService, waitFor } from '../testing';
import { runBusContract } from './contract';
import { createInProcessBus, type InProcessBus } from './inprocess';

const pg = await needService('postgres');

describe.skipIf(!pg)('in-process bus on PostgreSQL', () => {
  runBusContract('in-process on PostgreSQL', async () => {
    const store = await createTestPostgres();
    const logger = pino({ level: 'silent' });
    // Each bus gets its own pool, as separate processes sharing one PostgreSQL would.
    const databases: Database<unknown>[] = [];
    return {
      createBus: async () => {
        const database = openDatabase<unknown>({ databaseUrl: store.url, dataDir: '.', poolSize: 4 });
        databases.push(database);
        return createInProcessBus({ database, logger, pollIntervalMs: 100 });
      },
      teardown: async () => {
        await Promise.all(databases.map((d) => d.close()));
        await store.drop();
      },
    };
  });
});

describe.skipIf(!pg)('in-process bus on PostgreSQL, several processes', () => {
  const logger = pino({ level: 'silent' });
  let store: Awaited<ReturnType<typeof createTestPostgres>>;
  const databases: Database<unknown>[] = [];
  const buses: InProcessBus[] = [];

  beforeAll(async () => {
    store = await createTestPostgres();
  });
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await Promise.all(databases.map((d) => d.close()));
    await store.drop();
  });

  async function processBus(): Promise<InProcessBus> {
    const database = openDatabase<unknown>({ databaseUrl: store.url, dataDir: '.', poolSize: 4 });
    databases.push(database);
    const bus = await createInProcessBus({ database, logger, pollIntervalMs: 20 });
    buses.push(bus);
    return bus;
  }

  it('never skips an event whose publish committed after a later-numbered one (no gaps behind the cursor)', async () => {
    const publishers = await Promise.all([processBus(), processBus(), processBus(), processBus()]);
    const consumer = await processBus();
    const seen = new Set<string>();
    await consumer.subscribe({
      durable: 'gaps',
      subjects: ['confab.gaps.>'],
      concurrency: 8,
      handler: async (d) => {
        seen.add(d.event.id);
      },
    });
    // Many small concurrent transactions from separate pools, while the consumer keeps claiming.
    await Promise.all(
      publishers.map(async (bus, p) => {
        for (let n = 0; n < 150; n++) await bus.publish('confab.gaps.x', { id: `p${p}-${n}` });
      }),
    );
    await waitFor(() => seen.size === 600, { timeoutMs: 20_000, message: 'all 600 events' }).catch(async (error) => {
      throw new Error(`saw ${seen.size} of 600`, { cause: error });
    });
    expect(seen.size).toBe(600);
  });
});
