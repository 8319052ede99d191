/**
 * Wakes the SSE streams of a user when new notifications are stored, and
 * closes the streams of a session that was signed out. In-process only: a
 * stream also polls the database now and then, so notifications stored by
 * another notifier instance still arrive.
 */
export interface StreamHub {
  /** Registers a stream; returns the function that unregisters it. */
  register(stream: { userId: string; sessionId: string; wake: () => void; close: () => void }): () => void;
  notify(userIds: readonly string[]): void;
  revokeSession(sessionId: string): void;
  closeAll(): void;
  readonly size: number;
}

export function createStreamHub(): StreamHub {
  type Entry = { userId: string; sessionId: string; wake: () => void; close: () => void };
  const entries = new Set<Entry>();
  return {
    register(entry) {
      entries.add(entry);
      return () => entries.delete(entry);
    },
    notify(userIds) {
      const wanted = new Set(userIds);
      for (const entry of entries) if (wanted.has(entry.userId)) entry.wake();
    },
    revokeSession(sessionId) {
      for (const entry of entries) if (entry.sessionId === sessionId) entry.close();
    },
    closeAll() {
      for (const entry of entries) entry.close();
    },
    get size() {
      return entries.size;
    },
  };
}
