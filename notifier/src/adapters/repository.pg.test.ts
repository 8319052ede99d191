import { openDatabase } from '@confab/platform';
import { createTestPostgres, needService } from '@confab/platform/testing';
import { describe } from 'vitest';
import { runRepositoryContract } from './repository.contract';
import type { NotifierTables } from './schema';

const pg = await needService('postgres');

describe.skipIf(!pg)('PostgreSQL', () => {
  runRepositoryContract('PostgreSQL', async () => {
    const test = await createTestPostgres();
    const database = openDatabase<NotifierTables>({ databaseUrl: test.url, dataDir: '.' });
    return {
      database,
      teardown: async () => {
        await database.close();
        await test.drop();
      },
    };
  });
});
