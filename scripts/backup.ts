/**
 * `npx tsx scripts/backup.ts [file]`: a consistent backup of Confab's
 * database while it runs. Reads DATABASE_URL (PostgreSQL) or DATA_DIR (SQLite
 * `confab.db`) like the services; default file `backups/confab-<time>.dump|db`.
 * See docs/operations.md ("Backup and restore").
 */
import path from 'node:path';
import { backup, defaultBackupName, targetFromEnv } from './backup/core';

try {
  const target = targetFromEnv(process.env);
  const file = process.argv[2] ?? path.join('backups', defaultBackupName(target));
  const bytes = await backup(target, file);
  process.stdout.write(`backup of the ${target.kind} database written to ${file} (${bytes} bytes)\n`);
} catch (error) {
  process.stderr.write(`backup failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
