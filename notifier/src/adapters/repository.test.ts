import { openDatabase } from '@confab/platform';
import { runRepositoryContract } from './repository.contract';
import type { NotifierTables } from './schema';

runRepositoryContract('SQLite', async () => {
  const database = openDatabase<NotifierTables>({ dataDir: '.', sqliteFile: ':memory:' });
  return { database, teardown: () => database.close() };
});
