import { migrate, openDatabase } from '@confab/platform';
import { createTestPostgres, needService } from '@confab/platform/testing';
import { describe } from 'vitest';
import { MIGRATION_TABLE, syncMigrations } from './schema';
import { runGroupCommitContract } from './sync-store.contract';

const pg = await needService('postgres');

describe.skipIf(!pg)('postgres', () => {
  runGroupCommitContract('postgres', async () => {
    const testDb = await createTestPostgres();
    const database = openDatabase<unknown>({ databaseUrl: testDb.url, dataDir: '.' });
    await migrate(database.db, MIGRATION_TABLE, syncMigrations(database.kind));
    // Its own pool, so it sees only what other connections have committed.
    const peer = openDatabase<unknown>({ databaseUrl: testDb.url, dataDir: '.' });
    return {
      database,
      peer,
      teardown: async () => {
        await peer.close();
        await database.close();
        await testDb.drop();
      },
    };
  });
});
