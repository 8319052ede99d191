/**
 * One CRDT at one room size, in a fresh process (started with --expose-gc)
 * so its memory figure is not mixed with another case's garbage or WASM heap.
 */
import { performance } from 'node:perf_hooks';
import { MODELS, messageAt } from './models';

export interface CrdtCase {
  model: keyof typeof MODELS;
  messages: number;
  appends: number;
}

export interface CrdtFigures {
  buildMs: number;
  encodedBytes: number;
  bytesPerMessage: number;
  loadMs: number;
  loadedMemoryMiB: number;
  loadedRssMiB: number;
  appendUs: number;
  appendChangeBytes: number;
  applyRemoteUs: number;
}

function memory(): { total: number; rss: number } {
  if (!globalThis.gc) throw new Error('run with --expose-gc: memory figures need a full collection');
  // Twice: the first pass can leave finalizer-held garbage (WASM wrappers) for the second.
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  // heapUsed misses what lives outside the JS heap (Automerge's WASM memory is an ArrayBuffer).
  return { total: m.heapUsed + m.external, rss: m.rss };
}

function run(c: CrdtCase): CrdtFigures {
  const model = MODELS[c.model];
  let started = performance.now();
  let bytes: Uint8Array | null = model.build(c.messages);
  const buildMs = performance.now() - started;
  const encodedBytes = bytes.length;
  const saved = bytes.slice();
  bytes = null;

  const before = memory();
  started = performance.now();
  const loaded = model.load(saved);
  const loadMs = performance.now() - started;
  if (loaded.messages !== c.messages) throw new Error(`${c.model} loaded ${loaded.messages} of ${c.messages} messages`);
  const after = memory();

  // A second copy of the room plays the peer that receives each append.
  let peer = model.load(saved).handle;
  let handle = loaded.handle;
  let appendTotal = 0;
  let applyTotal = 0;
  let changeBytes = 0;
  const now = Date.now();
  for (let i = 0; i < c.appends; i++) {
    const message = messageAt(c.messages + i, now);
    let t = performance.now();
    const appended = model.append(handle, message);
    appendTotal += performance.now() - t;
    handle = appended.handle;
    changeBytes += appended.change.length;
    t = performance.now();
    peer = model.applyRemote(peer, appended.change);
    applyTotal += performance.now() - t;
  }
  const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
  return {
    buildMs: round(buildMs),
    encodedBytes,
    bytesPerMessage: round(encodedBytes / c.messages),
    loadMs: round(loadMs),
    loadedMemoryMiB: round((after.total - before.total) / 2 ** 20),
    loadedRssMiB: round((after.rss - before.rss) / 2 ** 20),
    appendUs: round((appendTotal / c.appends) * 1000),
    appendChangeBytes: round(changeBytes / c.appends),
    applyRemoteUs: round((applyTotal / c.appends) * 1000),
  };
}

process.on('message', (c: CrdtCase) => {
  try {
    process.send?.({ type: 'figures', figures: run(c) });
  } catch (error) {
    process.send?.({ type: 'failed', error: error instanceof Error ? error.message : String(error) });
  }
});
process.on('disconnect', () => process.exit(0));
