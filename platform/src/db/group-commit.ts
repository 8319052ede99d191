/**
 * Group commit: calls that arrive while a write is running are written
 * together by the next one, each caller resolving when the write that holds
 * its item has committed (or rejecting with its error). One transaction, one
 * fsync, for what concurrent request handlers publish at the same moment;
 * a lone caller waits for nothing but its own write.
 */
export function groupCommit<T>(write: (items: T[]) => Promise<void>, maxBatch = 500) {
  let queue: { item: T; resolve: () => void; reject: (error: unknown) => void }[] = [];
  let running = false;

  async function drain(): Promise<void> {
    running = true;
    try {
      while (queue.length > 0) {
        const batch = queue.slice(0, maxBatch);
        queue = queue.slice(batch.length);
        try {
          await write(batch.map((b) => b.item));
          for (const b of batch) b.resolve();
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      running = false;
    }
  }

  return (item: T): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!running) void drain();
    });
}
