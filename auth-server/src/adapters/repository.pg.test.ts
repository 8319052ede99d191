import { migrate, openDatabase } from '@confab/platform';
import { createTestPostgres, needService } from '@confab/platform/testing';
import type { Kysely } from 'kysely';
import { describe } from 'vitest';
import { createKyselyRepository } from './kysely-repository';
import { runRepositoryContract } from './repository.contract';
import { AUTH_MIGRATIONS, type AuthTables } from './schema';

const pg = await needService('postgres');

describe.skipIf(!pg)('PostgreSQL', () => {
  runRepositoryContract('PostgreSQL', async () => {
    const testDb = await createTestPostgres();
    const database = openDatabase<AuthTables>({ databaseUrl: testDb.url, dataDir: '.' });
    await migrate(database.db as unknown as Kysely<unknown>, 'auth', AUTH_MIGRATIONS);
    // Migrating twice is a no-op: every start runs it.
    await migrate(database.db as unknown as Kysely<unknown>, 'auth', AUTH_MIGRATIONS);
    return {
      repo: createKyselyRepository(database),
      teardown: async () => {
        await database.close();
        await testDb.drop();
      },
    };
  });
});
