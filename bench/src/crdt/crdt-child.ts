/**
 * One CRDT at one room size. Two fresh processes (started with --expose-gc)
 * per case: one builds the room and saves it to a file, the other loads it,
 * so the memory figures of the load are not mixed with the build's garbage
 * or its high-water mark in RSS.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { MODELS, messageAt } from './models';

export type CrdtRequest =
  | { phase: 'build'; model: keyof typeof MODELS; messages: number; file: string }
  | { phase: 'load'; model: keyof typeof MODELS; messages: number; file: string; appends: number };

export interface BuildFigures {
  buildMs: number;
  encodedBytes: number;
  bytesPerMessage: number;
}

export interface LoadFigures {
  loadMs: number;
  loadedMemoryMiB: number;
  loadedRssMiB: number;
  appendUs: number;
  appendChangeBytes: number;
  applyRemoteUs: number;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function memory(): { total: number; rss: number } {
  if (!globalThis.gc) throw new Error('run with --expose-gc: memory figures need a full collection');
  // Twice: the first pass can leave finalizer-held garbage (WASM wrappers) for the second.
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  // heapUsed misses what lives outside the JS heap (Automerge's WASM memory is an ArrayBuffer).
  return { total: m.heapUsed + m.external, rss: m.rss };
}

function build(r: Extract<CrdtRequest, { phase: 'build' }>): BuildFigures {
  const started = performance.now();
  const bytes = MODELS[r.model].build(r.messages);
  const buildMs = performance.now() - started;
  fs.writeFileSync(r.file, bytes);
  return { buildMs: round(buildMs), encodedBytes: bytes.length, bytesPerMessage: round(bytes.length / r.messages) };
}

function load(r: Extract<CrdtRequest, { phase: 'load' }>): LoadFigures {
  const model = MODELS[r.model];
  const saved = new Uint8Array(fs.readFileSync(r.file));
  // Warm the code paths on a tiny room so the timed load is not mostly JIT/WASM start-up.
  model.load(model.build(10));
  const before = memory();
  const started = performance.now();
  const loaded = model.load(saved);
  const loadMs = performance.now() - started;
  if (loaded.messages !== r.messages) throw new Error(`${r.model} loaded ${loaded.messages} of ${r.messages} messages`);
  const after = memory();

  // A second copy of the room plays the peer that receives each append.
  let peer = model.load(saved).handle;
  let handle = loaded.handle;
  let appendTotal = 0;
  let applyTotal = 0;
  let changeBytes = 0;
  const now = Date.now();
  for (let i = 0; i < r.appends; i++) {
    const message = messageAt(r.messages + i, now);
    let t = performance.now();
    const appended = model.append(handle, message);
    appendTotal += performance.now() - t;
    handle = appended.handle;
    changeBytes += appended.change.length;
    t = performance.now();
    peer = model.applyRemote(peer, appended.change);
    applyTotal += performance.now() - t;
  }
  return {
    loadMs: round(loadMs),
    loadedMemoryMiB: round((after.total - before.total) / 2 ** 20),
    loadedRssMiB: round((after.rss - before.rss) / 2 ** 20),
    appendUs: round((appendTotal / r.appends) * 1000),
    appendChangeBytes: round(changeBytes / r.appends),
    applyRemoteUs: round((applyTotal / r.appends) * 1000),
  };
}

process.on('message', (r: CrdtRequest) => {
  try {
    const figures = r.phase === 'build' ? build(r) : load(r);
    process.send?.({ type: 'figures', figures });
  } catch (error) {
    process.send?.({ type: 'failed', error: error instanceof Error ? error.message : String(error) });
  }
});
process.on('disconnect', () => process.exit(0));
