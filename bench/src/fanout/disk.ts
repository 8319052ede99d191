import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import SQLite from 'better-sqlite3';

/**
 * How long one durable SQLite commit takes on this machine's temp disk, with
 * the durability Confab's database has (WAL, every commit synced: here by
 * synchronous=FULL; the server's loop connection runs NORMAL and fdatasyncs the WAL
 * before it answers, the same sync). Confab commits
 * before it acknowledges an update, so this bounds its message rate on SQLite:
 * printed next to the fan-out figures as their context, measured in the same run.
 */
export function measureSqliteCommit(commits: number): { commitMs: number; commitsPerSec: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-bench-disk-'));
  try {
    const db = new SQLite(path.join(dir, 'probe.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('create table t (id integer primary key, bytes blob)');
    const insert = db.prepare('insert into t (bytes) values (?)');
    const row = Buffer.alloc(200, 1); // about one chat message as a Yjs update
    const commit = db.transaction(() => insert.run(row));
    commit(); // the first commit creates the WAL file
    const started = performance.now();
    for (let i = 0; i < commits; i++) commit();
    const commitMs = (performance.now() - started) / commits;
    db.close();
    return { commitMs: Math.round(commitMs * 1000) / 1000, commitsPerSec: Math.round(1000 / commitMs) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
