export interface GroupCommitOptions<T> {
  /** Most items one write takes. Default 500. */
  readonly maxItems?: number;
  /** Most total weight one write takes (e.g. bytes); a single heavier item still goes alone. Default unbounded. */
  readonly maxWeight?: number;
  /** The weight of an item, counted against `maxWeight`. Default 1 per item. */
  readonly weigh?: (item: T) => number;
  /**
   * When a write would start from idle, first let the current event-loop turn finish (setImmediate), so
   * callers woken by the same I/O poll (e.g. messages from many sockets read at once) join it instead
   * of the first caller's write going alone. Costs no timer, only the rest of the turn. Default false.
   */
  readonly collectUntilNextTurn?: boolean;
  /**
   * Under a stream of callers, the least time between the starts of two writes, in ms. A call that
   * comes within this interval of the last write's start waits out the rest of it (a timer), and the
   * write then takes whatever arrived meanwhile: the writes per second (commits, fsyncs, thread round
   * trips) stay bounded as the callers grow, instead of one write per call. A call after a quiet spell
   * is written at once, and so is one made while the last write's callers are being resolved (a caller
   * that awaits each call before making the next, which would only wait for itself), and so is a full
   * batch (maxItems or maxWeight) that is already waiting: gathering more would not make it bigger.
   * Default 0.
   */
  readonly minIntervalMs?: number;
}

/**
 * Group commit (leader/follower): calls that arrive while a write is running
 * are written together by the next one, each caller resolving when the write
 * that holds its item has committed, or rejecting with its error (then every
 * caller of that write is rejected and none is told it was stored). One
 * transaction, one fsync, for what concurrent handlers write at the same
 * moment; a lone caller waits for nothing but its own write. Items reach
 * `write` in call order, batches run one at a time, in order.
 *
 * Used by the in-process bus and the outbox (publishes) and the sync server's
 * update log (appends).
 */
export function groupCommit<T>(
  write: (items: T[]) => Promise<void>,
  options: number | GroupCommitOptions<T> = {},
): (item: T) => Promise<void> {
  const {
    maxItems = 500,
    maxWeight = Number.POSITIVE_INFINITY,
    weigh,
    collectUntilNextTurn = false,
    minIntervalMs = 0,
  }: GroupCommitOptions<T> = typeof options === 'number' ? { maxItems: options } : options;
  let queue: { item: T; resolve: () => void; reject: (error: unknown) => void }[] = [];
  let running = false;
  let lastWriteAt = Number.NEGATIVE_INFINITY;
  /** From the end of a drain until the callbacks of its last write have run (the rest of that turn). */
  let settling = false;

  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  const untilRestInterval = () => lastWriteAt + minIntervalMs - performance.now();

  /** How many queued items the next write takes: at least one, then up to the bounds. */
  function nextBatchSize(): number {
    if (!weigh) return Math.min(queue.length, maxItems);
    let weight = 0;
    let n = 0;
    while (n < queue.length && n < maxItems) {
      const w = weigh((queue[n] as (typeof queue)[number]).item);
      if (n > 0 && weight + w > maxWeight) break;
      weight += w;
      n++;
    }
    return n;
  }

  function fullBatchWaiting(): boolean {
    return queue.length >= maxItems || nextBatchSize() < queue.length;
  }

  async function drain(fromLastWritesCaller: boolean): Promise<void> {
    running = true;
    try {
      const rest = untilRestInterval();
      if (rest > 0 && !fromLastWritesCaller) await sleep(rest);
      else if (collectUntilNextTurn) await new Promise<void>((resolve) => setImmediate(resolve));
      while (queue.length > 0) {
        lastWriteAt = performance.now();
        const size = nextBatchSize();
        const batch = queue.slice(0, size);
        queue = queue.slice(size);
        try {
          await write(batch.map((b) => b.item));
          for (const b of batch) b.resolve();
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
        // Calls came in while that write ran: a stream. Gather it until the interval is over,
        // unless a full batch is waiting already.
        const rest = untilRestInterval();
        if (queue.length > 0 && rest > 0 && !fullBatchWaiting()) await sleep(rest);
      }
    } finally {
      running = false;
      if (minIntervalMs > 0) {
        settling = true;
        setImmediate(() => {
          settling = false;
        });
      }
    }
  }

  return (item: T): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!running) void drain(settling);
    });
}
