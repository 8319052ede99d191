import { describe, expect, it } from 'vitest';
import { type GroupCommitOptions, groupCommit } from './group-commit';

/**
 * Node's timers run off the loop's millisecond clock, so a timeout can fire up to about a
 * millisecond before performance.now() says it is due (CI saw 298.8 ms for a 300 ms wait).
 */
const TIMER_SLACK_MS = 2;

/** A group commit whose writes take 5 ms each and are recorded with their batch and start time. */
function timedWrites(options: GroupCommitOptions<number>) {
  const writes: { items: number[]; at: number }[] = [];
  const add = groupCommit<number>(async (items) => {
    writes.push({ items, at: performance.now() });
    await new Promise((r) => setTimeout(r, 5));
  }, options);
  return { writes, add };
}

describe('groupCommit', () => {
  it('writes calls that arrive during a write together in the next one, in arrival order', async () => {
    const writes: number[][] = [];
    const add = groupCommit<number>(async (items) => {
      writes.push(items);
      await new Promise((r) => setTimeout(r, 10));
    });
    await Promise.all([1, 2, 3, 4].map((n) => add(n)));
    expect(writes).toEqual([[1], [2, 3, 4]]);
  });

  it('caps a batch at maxBatch items', async () => {
    const writes: number[][] = [];
    const add = groupCommit<number>(async (items) => {
      writes.push(items);
    }, 2);
    await Promise.all([1, 2, 3, 4, 5].map((n) => add(n)));
    expect(writes.flat()).toEqual([1, 2, 3, 4, 5]);
    expect(Math.max(...writes.map((w) => w.length))).toBeLessThanOrEqual(2);
  });

  it('rejects only the callers whose batch failed, and keeps working afterwards', async () => {
    let fail = true;
    const add = groupCommit<number>(async () => {
      await new Promise((r) => setTimeout(r, 5));
      if (fail) {
        fail = false;
        throw new Error('disk full');
      }
    });
    const results = await Promise.allSettled([add(1), add(2), add(3)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    await expect(add(4)).resolves.toBeUndefined();
  });

  it('caps a batch at maxWeight, but still writes a single item heavier than that', async () => {
    const writes: number[][] = [];
    let release: () => void = () => {};
    const add = groupCommit<number>(
      async (items) => {
        writes.push(items);
        if (writes.length === 1) await new Promise<void>((r) => (release = r));
      },
      { maxWeight: 10, weigh: (n) => n },
    );
    const first = add(1);
    const rest = [4, 5, 2, 30, 3].map((n) => add(n));
    release();
    await Promise.all([first, ...rest]);
    expect(writes).toEqual([[1], [4, 5], [2], [30], [3]]);
  });

  it('resolves a caller only after the write holding its item has finished', async () => {
    const finished: number[] = [];
    const add = groupCommit<number>(async (items) => {
      await new Promise((r) => setTimeout(r, 5));
      finished.push(...items);
    });
    const seenAtResolve = await Promise.all([1, 2, 3].map((n) => add(n).then(() => finished.includes(n))));
    expect(seenAtResolve).toEqual([true, true, true]);
  });

  it('with collectUntilNextTurn, writes callers of the same event-loop turn together, later ones apart', async () => {
    const writes: number[][] = [];
    const add = groupCommit<number>(
      async (items) => {
        writes.push(items);
      },
      { collectUntilNextTurn: true },
    );
    // The second caller comes a few microtasks later, as a handler that awaited a lock and a lookup does.
    const first = add(1);
    const second = Promise.resolve()
      .then(() => Promise.resolve())
      .then(() => add(2));
    await Promise.all([first, second]);
    await new Promise((r) => setTimeout(r, 1));
    await add(3);
    expect(writes).toEqual([[1, 2], [3]]);

    const eager: number[][] = [];
    const addEager = groupCommit<number>(async (items) => {
      eager.push(items);
    });
    await Promise.all([
      addEager(1),
      Promise.resolve()
        .then(() => Promise.resolve())
        .then(() => addEager(2)),
    ]);
    expect(eager).toEqual([[1], [2]]);
  });

  it('under a stream of callers, starts writes at most every minIntervalMs and gathers what came meanwhile', async () => {
    const { writes, add } = timedWrites({ minIntervalMs: 60 });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const calls = [add(1), sleep(1).then(() => add(2)), sleep(20).then(() => add(3)), sleep(40).then(() => add(4))];
    await Promise.all(calls);
    // 2 came while the first write ran: the next write waited out the interval and took 3 and 4 too.
    expect(writes.map((w) => w.items)).toEqual([[1], [2, 3, 4]]);
    expect(writes[1]!.at - writes[0]!.at).toBeGreaterThanOrEqual(60 - TIMER_SLACK_MS);
  });

  it('writes a full batch that is waiting at once, without waiting out minIntervalMs', async () => {
    const { writes, add } = timedWrites({ minIntervalMs: 300, maxItems: 2 });
    const first = add(1);
    // Three more while the first write runs: one full batch and one item.
    const rest = [add(2), add(3), add(4)];
    await Promise.all([first, ...rest]);
    expect(writes.map((w) => w.items)).toEqual([[1], [2, 3], [4]]);
    // [2, 3] was full: written right after the first. [4] alone waited out the interval after it.
    expect(writes[1]!.at - writes[0]!.at).toBeLessThan(150);
    expect(writes[2]!.at - writes[1]!.at).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
  });

  it('makes a call from elsewhere within minIntervalMs of the last write wait for the rest of it', async () => {
    const starts: number[] = [];
    const add = groupCommit<number>(
      async () => {
        starts.push(performance.now());
      },
      { minIntervalMs: 60, collectUntilNextTurn: true },
    );
    await add(1);
    // Another socket's message, a little later: not the caller of the last write.
    await new Promise((r) => setTimeout(r, 5));
    await add(2);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(60 - TIMER_SLACK_MS);
    // After a quiet spell, no wait.
    await new Promise((r) => setTimeout(r, 70));
    const before = performance.now();
    await add(3);
    expect(starts[2]! - before).toBeLessThan(50);
  });

  it('never makes a caller that awaits each call wait for minIntervalMs: it goes at its own pace', async () => {
    const writes: number[][] = [];
    const add = groupCommit<number>(
      async (items) => {
        writes.push(items);
      },
      { minIntervalMs: 10_000, collectUntilNextTurn: true },
    );
    const started = performance.now();
    for (let n = 1; n <= 5; n++) await add(n);
    expect(writes).toEqual([[1], [2], [3], [4], [5]]);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
