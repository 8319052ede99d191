/**
 * The sync server's storage: bytes written and append latency per message at
 * 1k / 10k / 100k messages in a room, load time of the room, compaction time;
 * next to the baseline of `@hocuspocus/extension-sqlite`-style persistence
 * (encode the whole document and write it on every store), measured in the
 * same run on the same database.
 *
 *   BENCH_MODE=smoke|quick|full npx tsx bench/sync-storage.ts   (SQLite, JSON lines on stdout)
 *   npx tsx bench/sync-storage.ts --pg            (PostgreSQL at TEST_DATABASE_URL or 127.0.0.1)
 * Rooms of 1k (smoke), 1k and 10k (quick), 1k, 10k and 100k messages (full);
 * `comparison` lines (bench/src/mode.ts) against the whole-document baseline.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { type Database, migrate, openDatabase } from '@confab/platform';
import { createTestPostgres } from '@confab/platform/testing';
import { appendMessage, type MessageId, type ParsedDocument, type UserId } from '@confab/protocol';
import { type Kysely, sql } from 'kysely';
import * as Y from 'yjs';
import { createConfabGuard } from '../sync-server/src/extensions/confab-guard';
import { nextTurn, runSliced } from '../sync-server/src/extensions/time-slice';
import { RoomGuard } from '../sync-server/src/guard';
import { MergeWorker } from '../sync-server/src/storage/merge-worker';
import { MIGRATION_TABLE, type SyncTables, syncMigrations } from '../sync-server/src/storage/schema';
import { KyselySyncStore } from '../sync-server/src/storage/sync-store';
import { byMode, printComparison } from './src/mode';

const args = process.argv.slice(2);
const usePg = args.includes('--pg');
const sizes = byMode({ smoke: [1_000], quick: [1_000, 10_000], full: [1_000, 10_000, 100_000] });
/** Appends (and baseline stores) measured per room size. */
const SAMPLES = byMode({ smoke: 30, quick: 100, full: 200 });
/** Loads per figure (load, its phases, the longest block): each applies the whole room. */
const LOADS = byMode({ smoke: 2, quick: 3, full: 5 });
const confabGuard = createConfabGuard();

function emit(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ bench: 'sync-storage', db: usePg ? 'postgres' : 'sqlite', ...record })}\n`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function stats(samplesMs: number[]) {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return {
    p50: +percentile(sorted, 50).toFixed(3),
    p99: +percentile(sorted, 99).toFixed(3),
    max: +(sorted.at(-1) ?? 0).toFixed(3),
  };
}

/** One update per message, as clients send them (about 120 bytes of JSON each), continuing `doc`. */
function messageUpdates(count: number, startAt = 0, doc = new Y.Doc()): { doc: Y.Doc; updates: Uint8Array[] } {
  const updates: Uint8Array[] = [];
  const collect = (u: Uint8Array) => updates.push(u);
  doc.on('update', collect);
  for (let i = startAt; i < startAt + count; i++) {
    doc.clientID = 1_000 + (i % 50);
    appendMessage(doc, {
      id: `m${i}` as MessageId,
      author: `user${i % 50}` as UserId,
      text: `message number ${i}: the quick brown fox jumps over the lazy dog`,
      createdAt: 1_800_000_000_000 + i,
    });
  }
  doc.off('update', collect);
  return { doc, updates };
}

async function openBenchDatabase(): Promise<{ database: Database<unknown>; close: () => Promise<void> }> {
  if (usePg) {
    const pg = await createTestPostgres();
    const database = openDatabase<unknown>({ databaseUrl: pg.url, dataDir: '.' });
    return {
      database,
      close: async () => {
        await database.close();
        await pg.drop();
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-bench-storage-'));
  const database = openDatabase<unknown>({ dataDir: dir });
  return {
    database,
    close: async () => {
      await database.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const { database, close } = await openBenchDatabase();
  await migrate(database.db, MIGRATION_TABLE, syncMigrations(database.kind));
  const db = database.db as unknown as Kysely<SyncTables>;
  // The baseline's table: one row per document, rewritten whole on every store.
  await sql`create table if not exists bench_whole_documents (name text primary key, data ${sql.raw(
    database.kind === 'postgres' ? 'bytea' : 'blob',
  )} not null)`.execute(db);
  const store = new KyselySyncStore({ database });
  // As the sync server runs it: compactions read the room from storage and fold it in a worker thread,
  // which on an SQLite file also writes every compaction on its own connection (the live ones too).
  const sqliteFile = database.kind === 'sqlite' ? database.sqlite : undefined;
  const merger = new MergeWorker(sqliteFile ? { sqliteLocation: sqliteFile.location } : {});
  const writer = sqliteFile ? { compactionWriter: merger } : {};
  const offThread = new KyselySyncStore({ database, merge: merger.merge, ...writer });
  const liveByThread = sqliteFile ? new KyselySyncStore({ database, ...writer }) : null;

  for (const size of sizes) {
    const name = `room:bench${size}`;
    const { doc, updates } = messageUpdates(size);
    // Build the room's log fast (batched), as if `size` messages had been appended one by one.
    for (let i = 0; i < updates.length; i += 1000) {
      await db
        .insertInto('sync_updates')
        .values(
          updates
            .slice(i, i + 1000)
            .map((u) => ({ document: name, update: Buffer.from(u), bytes: u.byteLength, created_at: 0 })),
        )
        .execute();
    }

    // Compaction of the whole log into the first snapshot.
    let started = performance.now();
    const compaction = await store.compact(name);
    emit({
      messages: size,
      metric: 'compaction',
      ms: +(performance.now() - started).toFixed(1),
      mergedUpdates: compaction?.mergedUpdates,
      snapshotBytes: compaction?.snapshotBytes,
    });

    // Appends at this size: each writes one row of the message's size.
    const tail = messageUpdates(SAMPLES, size, doc);
    const appendMs: number[] = [];
    let appendBytes = 0;
    for (const u of tail.updates) {
      started = performance.now();
      await store.append(name, u);
      appendMs.push(performance.now() - started);
      appendBytes += u.byteLength;
    }
    const appended = { bytesPerMessage: Math.round(appendBytes / SAMPLES), ...stats(appendMs) };
    emit({ messages: size, metric: 'append', ...appended });

    // Baseline: the whole document encoded and written on every store.
    const wholeMs: number[] = [];
    let wholeBytes = 0;
    // Fewer samples for big rooms: each one rewrites the whole (multi-megabyte) document.
    const baselineSamples = size >= 100_000 ? 20 : SAMPLES;
    for (let i = 0; i < baselineSamples; i++) {
      started = performance.now();
      const state = Y.encodeStateAsUpdate(doc);
      await db
        .insertInto('bench_whole_documents' as never)
        .values({ name, data: Buffer.from(state) } as never)
        .onConflict((oc) => oc.column('name' as never).doUpdateSet({ data: Buffer.from(state) } as never))
        .execute();
      wholeMs.push(performance.now() - started);
      wholeBytes += state.byteLength;
    }
    const whole = { bytesPerMessage: Math.round(wholeBytes / baselineSamples), ...stats(wholeMs) };
    emit({ messages: size, metric: 'baseline_whole_document_store', ...whole });
    const roomCase = `room of ${size.toLocaleString('en-US')} messages (${database.kind})`;
    const baseline = 'whole document per store (Hocuspocus SQLite-style)';
    printComparison('sync-storage', {
      case: roomCase,
      metric: 'store one message, p50',
      unit: 'ms',
      subject: 'append-only log',
      value: appended.p50,
      baseline,
      baselineValue: whole.p50,
      better: 'lower',
    });
    printComparison('sync-storage', {
      case: roomCase,
      metric: 'bytes written per message',
      unit: 'B',
      subject: 'append-only log',
      value: appended.bytesPerMessage,
      baseline,
      baselineValue: whole.bytesPerMessage,
      better: 'lower',
    });

    // Load: snapshot + the log after it, applied to a fresh document (what onLoadDocument does).
    // With the update guard's index built on top, it is everything the server does before the room is usable.
    const loadMs: number[] = [];
    const loadWithGuardMs: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      started = performance.now();
      const stored = await store.load(name);
      const loaded = new Y.Doc();
      loaded.transact(() => {
        if (stored.snapshot) Y.applyUpdate(loaded, stored.snapshot);
        for (const u of stored.updates) Y.applyUpdate(loaded, u);
      });
      loadMs.push(performance.now() - started);
      new RoomGuard(loaded).destroy();
      loadWithGuardMs.push(performance.now() - started);
      if (loaded.getArray('messages').length !== size + SAMPLES) throw new Error('load lost messages');
      loaded.destroy();
    }
    emit({ messages: size, metric: 'load', logRows: SAMPLES, ...stats(loadMs) });
    const loadedWithGuard = stats(loadWithGuardMs);
    emit({ messages: size, metric: 'load_with_guard_index', logRows: SAMPLES, ...loadedWithGuard });

    // Where a load's time goes (each phase blocks the event loop on its own): the database read, applying the
    // snapshot, applying the log, and the update guard's index build on the first update (RoomGuard).
    const phases = {
      readMs: [] as number[],
      snapshotMs: [] as number[],
      logMs: [] as number[],
      guardMs: [] as number[],
    };
    for (let i = 0; i < LOADS; i++) {
      started = performance.now();
      const stored = await store.load(name);
      phases.readMs.push(performance.now() - started);
      const loaded = new Y.Doc();
      started = performance.now();
      loaded.transact(() => {
        if (stored.snapshot) Y.applyUpdate(loaded, stored.snapshot);
      });
      phases.snapshotMs.push(performance.now() - started);
      started = performance.now();
      loaded.transact(() => {
        for (const u of stored.updates) Y.applyUpdate(loaded, u);
      });
      phases.logMs.push(performance.now() - started);
      started = performance.now();
      const guard = new RoomGuard(loaded);
      phases.guardMs.push(performance.now() - started);
      guard.destroy();
      loaded.destroy();
    }
    for (const [phase, samples] of Object.entries(phases)) {
      emit({ messages: size, metric: `load_phase_${phase.replace(/Ms$/, '')}`, ...stats(samples) });
    }
    printComparison('sync-storage', {
      case: roomCase,
      metric: 'time to load the room, p50',
      unit: 'ms',
      subject: `snapshot + ${SAMPLES} log rows read and applied, guard index built`,
      value: loadedWithGuard.p50,
      baseline: 'the snapshot alone applied to a fresh Y.Doc (any Yjs server)',
      baselineValue: stats(phases.snapshotMs).p50,
      better: 'lower',
    });

    // The longest the event loop is blocked by the rest of a load, after the snapshot's one Yjs apply (which
    // cannot be split; load_phase_snapshot): the log and the guard index in slices as the server does it
    // (extensions/persistence.ts), next to the same work in one piece as before, as other rooms feel it.
    const longestBlockP50 = new Map<boolean, number>();
    for (const sliced of [false, true]) {
      const blockMs: number[] = [];
      for (let i = 0; i < LOADS; i++) {
        const stored = await store.load(name);
        const loaded = new Y.Doc();
        if (stored.snapshot) Y.applyUpdate(loaded, stored.snapshot);
        await nextTurn();
        const histogram = monitorEventLoopDelay({ resolution: 1 });
        histogram.enable();
        await nextTurn();
        if (sliced) {
          await runSliced(
            (function* () {
              for (const u of stored.updates) {
                Y.applyUpdate(loaded, u);
                yield;
              }
            })(),
          );
          await runSliced(confabGuard.prepare?.(loaded, { kind: 'room', roomId: 'bench' } as ParsedDocument) ?? []);
        } else {
          loaded.transact(() => {
            for (const u of stored.updates) Y.applyUpdate(loaded, u);
          });
          new RoomGuard(loaded).destroy();
        }
        await nextTurn();
        histogram.disable();
        blockMs.push(histogram.max / 1e6);
        loaded.destroy();
      }
      const block = stats(blockMs);
      longestBlockP50.set(sliced, block.p50);
      emit({
        messages: size,
        metric: sliced ? 'load_rest_longest_block_sliced' : 'load_rest_longest_block_unsliced',
        ...block,
      });
    }
    printComparison('sync-storage', {
      case: roomCase,
      metric: 'longest event-loop block of a load after the snapshot, p50',
      unit: 'ms',
      subject: 'log and guard index in slices',
      value: longestBlockP50.get(true)!,
      baseline: 'the same work in one piece',
      baselineValue: longestBlockP50.get(false)!,
      better: 'lower',
    });

    // What a compaction costs the event loop (every room of the process waits it out). The sync server
    // folds a room over 1 MiB in a worker thread (read from storage, merged there and, on SQLite, written
    // there); a smaller one it encodes on the event loop, and on SQLite the thread writes it
    // (`live_thread_write`); until the twenty-first pass the loop's connection wrote it (`live`). Each
    // compaction folds 20 new rows into the snapshot; the ways alternate. The loop's busy time
    // (utilization) and its longest block are measured.
    const figures = () => ({ ms: [] as number[], block: [] as number[], busy: [] as number[] });
    const ways = { live: figures(), worker: figures(), live_thread_write: figures() };
    const order = liveByThread ? (['live', 'worker', 'live_thread_write'] as const) : (['live', 'worker'] as const);
    const compactBy = {
      live: () => store.compact(name, () => ({ doc })),
      worker: () => offThread.compact(name),
      live_thread_write: () => (liveByThread as KyselySyncStore).compact(name, () => ({ doc })),
    };
    let next = size + SAMPLES;
    await offThread.compact(name); // folds the appends above, and starts the worker
    for (let i = 0; i < LOADS; i++) {
      for (const way of order) {
        for (const u of messageUpdates(20, next, doc).updates) await store.append(name, u);
        next += 20;
        await nextTurn();
        const histogram = monitorEventLoopDelay({ resolution: 1 });
        histogram.enable();
        await nextTurn();
        const loopBefore = performance.eventLoopUtilization();
        started = performance.now();
        const folded = await compactBy[way]();
        ways[way].ms.push(performance.now() - started);
        ways[way].busy.push(performance.eventLoopUtilization(loopBefore).active);
        await nextTurn();
        histogram.disable();
        ways[way].block.push(histogram.max / 1e6);
        if (folded?.mergedUpdates !== 20) throw new Error(`the ${way} compaction folded ${folded?.mergedUpdates}`);
      }
    }
    for (const way of order) {
      const figures = ways[way];
      emit({
        messages: size,
        metric: `compaction_${way}`,
        ms: stats(figures.ms).p50,
        longestBlockMs: stats(figures.block).p50,
        loopBusyMs: stats(figures.busy).p50,
      });
    }
    printComparison('sync-storage', {
      case: roomCase,
      metric: 'event-loop time of a compaction, p50',
      unit: 'ms',
      subject: 'read from storage, folded in a worker thread',
      value: stats(ways.worker.busy).p50,
      baseline: 'the loaded room encoded on the event loop',
      baselineValue: stats(ways.live.busy).p50,
      better: 'lower',
    });
    if (liveByThread) {
      printComparison('sync-storage', {
        case: roomCase,
        metric: 'event-loop time of a compaction of the loaded room, p50',
        unit: 'ms',
        subject: 'written by the merge thread',
        value: stats(ways.live_thread_write.busy).p50,
        baseline: "written on the event loop's connection",
        baselineValue: stats(ways.live.busy).p50,
        better: 'lower',
      });
    }
    doc.destroy();
  }
  await merger.close();
  await close();
}

await main();
