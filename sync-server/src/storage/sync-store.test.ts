import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate, openDatabase } from '@confab/platform';
import { MergeWorker } from './merge-worker';
import { MIGRATION_TABLE, syncMigrations } from './schema';
import { runSyncStoreContract } from './sync-store.contract';

/** A fresh, migrated SQLite file; with `threadWrites`, compactions written by merge threads on their own connections. */
function sqlite(threadWrites: boolean) {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-sync-store-'));
    const database = openDatabase<unknown>({ dataDir: dir });
    await migrate(database.db, MIGRATION_TABLE, syncMigrations(database.kind));
    const location = database.sqlite?.location as string;
    const threads = threadWrites
      ? {
          healthy: new MergeWorker({ sqliteLocation: location }),
          crashing: new MergeWorker({ sqliteLocation: location, failAfterSnapshotWrite: true }),
        }
      : undefined;
    return {
      database,
      ...(threads ? { writers: threads } : {}),
      teardown: async () => {
        await threads?.healthy.close();
        await threads?.crashing.close();
        await database.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

runSyncStoreContract('sqlite', sqlite(false));
runSyncStoreContract('sqlite, compactions written by the merge thread', sqlite(true));
