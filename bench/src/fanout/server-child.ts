/**
 * One sync server in its own process, so its CPU and memory are measured
 * apart from the load generators'. Started by the orchestrator with
 * child_process.fork; the options come as one JSON argument.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import type { ServerChildMessage, ServerChildOptions, ServerParentMessage } from './messages';
import { mallocArenas } from './native-memory';
import type { RunningServer } from './servers/types';
import { STALL_MS, type StallRecord } from './stalls';

function nativeMemory(): { mallocArenaBytes: number; threadArenasBytes: number } | Record<string, never> {
  try {
    const { main, threads } = mallocArenas(readFileSync('/proc/self/smaps', 'utf8'));
    return { mallocArenaBytes: main, threadArenasBytes: threads };
  } catch {
    return {};
  }
}

/** Physical memory of V8's young generation: it keeps its high-water mark, empty or not. */
function newSpacePhysicalBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.physical_space_size ?? 0;
}

function reply(message: ServerChildMessage): void {
  process.send?.(message);
}

async function start(options: ServerChildOptions): Promise<RunningServer> {
  switch (options.kind) {
    case 'hocuspocus':
      return (await import('./servers/hocuspocus')).startHocuspocus();
    case 'y-websocket':
      return (await import('./servers/y-websocket')).startYWebsocket();
    case 'confab':
    case 'confab-pg':
    case 'confab-mem':
    case 'confab-noguard':
    case 'confab-nobus':
      return (await import('./servers/confab')).startConfab(options);
  }
}

/**
 * Starts V8's sampling heap profiler (BENCH_HEAP_PROF, see bench/README.md); the function returned writes
 * the profile to `file`. With BENCH_HEAP_PROF_MINOR/MAJOR=1 it keeps what collections freed too.
 */
async function sampleHeap(file: string): Promise<() => Promise<void>> {
  const { Session } = await import('node:inspector/promises');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 8192,
    includeObjectsCollectedByMinorGC: process.env.BENCH_HEAP_PROF_MINOR === '1',
    includeObjectsCollectedByMajorGC: process.env.BENCH_HEAP_PROF_MAJOR === '1',
  });
  return async () => {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    await writeFile(file, JSON.stringify(profile));
  };
}

/** Records what held the event loop (BENCH_STALLS, see stalls.ts); `write` saves it to `file`. */
function recordStalls(file: string): { mark: () => void; write: () => Promise<void> } {
  const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
  const offsetUs = nowUs() - performance.now() * 1000;
  const record: StallRecord = { stalls: [], collections: [], marks: [], schedule: [] };
  const readSchedule = (): number[] => {
    try {
      return readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    } catch {
      return [];
    }
  };
  let last = nowUs();
  const tick = setInterval(() => {
    const now = nowUs();
    // The timer is due every 1 ms: what lies beyond that, the loop was held.
    if (now - last >= (STALL_MS + 1) * 1000)
      record.stalls.push({ startUs: last + 1000, durationMs: (now - last - 1000) / 1000 });
    last = now;
  }, 1);
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail;
      record.collections.push({
        startUs: Math.round(offsetUs + entry.startTime * 1000),
        durationMs: entry.duration,
        kind: detail?.kind ?? 0,
      });
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    mark: () => {
      record.marks.push(nowUs());
      record.schedule.push(readSchedule());
    },
    write: async () => {
      clearInterval(tick);
      observer.disconnect();
      const { writeFile } = await import('node:fs/promises');
      await writeFile(file, JSON.stringify(record));
    },
  };
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as ServerChildOptions;
  const server = await start(options);
  const writeHeapProfile = process.env.BENCH_HEAP_PROF
    ? await sampleHeap(`${process.env.BENCH_HEAP_PROF}/${options.kind}-${process.pid}.heapprofile`)
    : async () => {};
  const stalls = process.env.BENCH_STALLS
    ? recordStalls(`${process.env.BENCH_STALLS}/${options.kind}-${process.pid}.stalls.json`)
    : undefined;
  // The server's own queueing: how busy its main thread is and how late its event loop runs.
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  process.on('message', (message: ServerParentMessage) => {
    if (message.type === 'stats') {
      stalls?.mark();
      // A full collection first when asked, so RSS deltas are not mostly garbage.
      if (message.gc) globalThis.gc?.();
      const cpu = process.cpuUsage();
      const memory = process.memoryUsage();
      const loop = performance.eventLoopUtilization();
      const loopDelayP99Ms = loopDelay.percentile(99) / 1e6;
      loopDelay.reset();
      reply({
        type: 'stats',
        id: message.id,
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        heapTotalBytes: memory.heapTotal,
        externalBytes: memory.external,
        ...(message.gc ? { ...nativeMemory(), newSpacePhysicalBytes: newSpacePhysicalBytes() } : {}),
        loopActiveMs: loop.active,
        loopIdleMs: loop.idle,
        loopDelayP99Ms,
        loadedDocuments: server.loadedDocuments(),
      });
    } else if (message.type === 'stop') {
      const hardStop = setTimeout(() => process.exit(0), 3000);
      hardStop.unref();
      Promise.all([writeHeapProfile(), stalls?.write()]).finally(() => server.stop().finally(() => process.exit(0)));
    }
  });
  reply({ type: 'listening', port: server.port, path: server.path });
}

process.on('disconnect', () => process.exit(0));
main().catch((error: unknown) => {
  reply({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
