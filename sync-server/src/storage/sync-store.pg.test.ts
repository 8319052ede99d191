import { migrate, openDatabase } from '@confab/platform';
import { createTestPostgres, needService } from '@confab/platform/testing';
import { describe } from 'vitest';
import { MIGRATION_TABLE, syncMigrations } from './schema';
import { runSyncStoreContract } from './sync-store.contract';

const pg = await needService('postgres');

describe.skipIf(!pg)('postgres', () => {
  runSyncStoreContract('postgres', async () => {
    const testDb = await createTestPostgres();
    const database = openDatabase<unknown>({ databaseUrl: testDb.url, dataDir: '.' });
    await migrate(database.db, MIGRATION_TABLE, syncMigrations(database.kind));
    return {
      database,
      teardown: async () => {
        await database.close();
        await testDb.drop();
      },
    };
  });
});
