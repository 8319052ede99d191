/**
 * `npx tsx scripts/restore.ts <file>`: replaces Confab's database (DATABASE_URL
 * or DATA_DIR, like the services) with a backup made by scripts/backup.ts.
 * Stop every Confab process first. See docs/operations.md ("Backup and restore").
 */
import { restore, targetFromEnv } from './backup/core';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: tsx scripts/restore.ts <backup file>\n');
  process.exit(2);
}
try {
  const target = targetFromEnv(process.env);
  await restore(target, file);
  process.stdout.write(`restored the ${target.kind} database from ${file}\n`);
} catch (error) {
  process.stderr.write(`restore failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
