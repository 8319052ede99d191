import { migrate, openDatabase } from '@confab/platform';
import type { Kysely } from 'kysely';
import { createKyselyRepository } from './kysely-repository';
import { runRepositoryContract } from './repository.contract';
import { AUTH_MIGRATIONS, type AuthTables } from './schema';

runRepositoryContract('SQLite', async () => {
  const database = openDatabase<AuthTables>({ dataDir: '.', sqliteFile: ':memory:' });
  await migrate(database.db as unknown as Kysely<unknown>, 'auth', AUTH_MIGRATIONS);
  return { repo: createKyselyRepository(database), teardown: () => database.close() };
});
