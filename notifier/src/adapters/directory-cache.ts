import type { Directory } from '@confab/platform';

type RoomInfo = NonNullable<Awaited<ReturnType<Directory['room']>>>;

/**
 * Rooms and their members, kept for a short while so a busy room does not
 * ask the auth server for every message. `membership.changed` invalidates
 * the room at once, so a removed member is never notified from the cache;
 * the TTL only bounds how stale display names can get.
 */
export interface CachedDirectory extends Directory {
  invalidate(roomId: string): void;
}

export function cacheDirectory(directory: Directory, options: { ttlMs: number; clock: () => number }): CachedDirectory {
  const rooms = new Map<string, { value: Promise<RoomInfo | null>; expiresAtMs: number }>();
  return {
    room(roomId) {
      const now = options.clock();
      const hit = rooms.get(roomId);
      if (hit && hit.expiresAtMs > now) return hit.value;
      const value = directory.room(roomId);
      rooms.set(roomId, { value, expiresAtMs: now + options.ttlMs });
      // A failed lookup is not cached: the next event asks again.
      value.catch(() => rooms.delete(roomId));
      return value;
    },
    user: (userId) => directory.user(userId),
    roomIdsOf: (userId) => directory.roomIdsOf(userId),
    invalidate(roomId) {
      rooms.delete(roomId);
    },
  };
}
