import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate, openDatabase } from '@confab/platform';
import { MIGRATION_TABLE, syncMigrations } from './schema';
import { runSyncStoreContract } from './sync-store.contract';

runSyncStoreContract('sqlite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-sync-store-'));
  const database = openDatabase<unknown>({ dataDir: dir });
  await migrate(database.db, MIGRATION_TABLE, syncMigrations(database.kind));
  return {
    database,
    teardown: async () => {
      await database.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});
