import pino from 'pino';
import { describe } from 'vitest';
import { type Database, openDatabase } from '../db/database';
import { createTestPostgres, needService } from '../testing';
import { runBusContract } from './contract';
import { createInProcessBus } from './inprocess';

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
