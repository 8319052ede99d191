import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { z } from 'zod';

/**
 * Backup and restore of Confab's one database, whichever kind it is.
 *
 * PostgreSQL: `pg_dump --format=custom` (consistent snapshot while the
 * services run, compressed, restorable table by table) and
 * `pg_restore --clean --if-exists --single-transaction`, so a restore that
 * fails half-way leaves the database as it was.
 *
 * SQLite: the online backup API (better-sqlite3 `.backup()`): a consistent
 * copy while the all-in-one process keeps writing, WAL included. A restore
 * checks the file, copies it next to the live one and renames it into place.
 */

/** Where the data is: the same variables the services read (CONTRACT). */
export const backupEnvSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  DATA_DIR: z.string().default('./data'),
});

export type Target = { kind: 'postgres'; url: string } | { kind: 'sqlite'; file: string };

export function targetFromEnv(env: Record<string, string | undefined>): Target {
  const parsed = backupEnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BackupError(`${String(issue?.path[0] ?? 'environment')}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data.DATABASE_URL
    ? { kind: 'postgres', url: parsed.data.DATABASE_URL }
    : { kind: 'sqlite', file: path.resolve(parsed.data.DATA_DIR, 'confab.db') };
}

/** An expected failure: the CLI prints its message as one line and exits 1. */
export class BackupError extends Error {
  override readonly name = 'BackupError';
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', (error) => reject(new BackupError(`${command}: ${error.message}`)));
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else
        reject(new BackupError(`${command} exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' / ')}`));
    });
  });
}

/** Writes a backup of `target` to `outFile` and returns its size in bytes. */
export async function backup(target: Target, outFile: string): Promise<number> {
  await mkdir(path.dirname(path.resolve(outFile)), { recursive: true });
  // Written under a temporary name first: a half-written backup never looks like a good one.
  const partial = `${outFile}.partial`;
  await rm(partial, { force: true });
  try {
    if (target.kind === 'postgres') {
      await run('pg_dump', ['--format=custom', '--no-owner', '--no-privileges', `--file=${partial}`, target.url]);
    } else {
      if (!existsSync(target.file)) throw new BackupError(`no SQLite database at ${target.file}`);
      const source = new SQLite(target.file, { readonly: true, fileMustExist: true });
      try {
        await source.backup(partial);
      } finally {
        source.close();
      }
    }
    await rename(partial, outFile);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return (await stat(outFile)).size;
}

/**
 * Replaces the database `target` with the backup in `file`. The services must
 * be stopped (docs/operations.md): a restore under a running service would
 * be overwritten by its next write, or confuse its caches.
 */
export async function restore(target: Target, file: string): Promise<void> {
  if (!existsSync(file)) throw new BackupError(`no backup file at ${file}`);
  if (target.kind === 'postgres') {
    // pg_restore checks the archive before it touches the database (--list fails on anything else).
    await run('pg_restore', ['--list', file]);
    await run('pg_restore', [
      '--clean',
      '--if-exists',
      '--no-owner',
      '--no-privileges',
      '--single-transaction',
      '--exit-on-error',
      `--dbname=${target.url}`,
      file,
    ]);
    return;
  }
  let check: SQLite.Database | undefined;
  try {
    check = new SQLite(file, { readonly: true, fileMustExist: true });
    const result = check.pragma('integrity_check', { simple: true });
    if (result !== 'ok') throw new BackupError(`${file} fails SQLite's integrity check: ${String(result)}`);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(`${file} is not a SQLite database: ${(error as Error).message}`);
  } finally {
    check?.close();
  }
  await mkdir(path.dirname(target.file), { recursive: true });
  const incoming = `${target.file}.restoring`;
  await copyFile(file, incoming);
  // The old WAL belongs to the old file: left in place, SQLite would replay it onto the restored one.
  await rm(`${target.file}-wal`, { force: true });
  await rm(`${target.file}-shm`, { force: true });
  await rename(incoming, target.file);
}

/** `confab-2026-11-26T17-05-00Z.dump` (PostgreSQL) or `.db` (SQLite). */
export function defaultBackupName(target: Target, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '-');
  return `confab-${stamp}.${target.kind === 'postgres' ? 'dump' : 'db'}`;
}
