import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate, openDatabase } from '@confab/platform';
import { MIGRATION_TABLE, syncMigrations } from './schema';
import { runGroupCommitContract } from './sync-store.contract';

runGroupCommitContract('sqlite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-group-commit-'));
  const database = openDatabase<unknown>({ dataDir: dir });
  await migrate(database.db, MIGRATION_TABLE, syncMigrations(database.kind));
  // A second connection to the same file: in WAL mode it reads only committed transactions.
  // openDatabase shares one connection per path, so the peer reaches the file through a directory
  // symlink (SQLite resolves it to the same file, WAL and shared memory; the path differs).
  const alias = `${dir}-peer`;
  fs.symlinkSync(dir, alias);
  const peer = openDatabase<unknown>({ dataDir: alias });
  return {
    database,
    peer,
    teardown: async () => {
      await peer.close();
      await database.close();
      fs.rmSync(alias, { force: true });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});
