import type { Room, User } from './api';

/**
 * What the app remembers about the signed-in account between reloads, so an
 * offline reload still knows who you are and which rooms you have. Kept in
 * localStorage (small, synchronous, readable before the first render); the
 * room documents themselves live in IndexedDB, one database per document,
 * named `confab:<userId>:<documentName>` so sign-out can find them all.
 */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
  key(index: number): string | null;
  readonly length: number;
}

/** Where the signed-in user is kept; tabs watch it (storage event) to follow sign-in and sign-out. */
export const ACCOUNT_STORAGE_KEY = 'confab:account';
const ACCOUNT_KEY = ACCOUNT_STORAGE_KEY;
const roomsKey = (userId: string) => `confab:rooms:${userId}`;
/** The storage key of a document's pending ids; tabs watch it (storage event) to share the pending state. */
export const pendingKey = (userId: string, document: string) => `confab:pending:${userId}:${document}`;
const membersKey = (userId: string, roomId: string) => `confab:members:${userId}:${roomId}`;

export interface CachedMember {
  userId: string;
  displayName: string;
  role: 'owner' | 'member' | 'reader';
}

export function idbName(userId: string, document: string): string {
  return `confab:${userId}:${document}`;
}

function readJson<T>(storage: KeyValueStorage, key: string): T | null {
  const raw = storage.getItem(key);
  if (raw === null) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    // A corrupt entry is as good as none; the next write replaces it.
    return null;
  }
}

export function createAccountCache(storage: KeyValueStorage) {
  return {
    user(): User | null {
      return readJson<{ user: User }>(storage, ACCOUNT_KEY)?.user ?? null;
    },
    setUser(user: User): void {
      storage.setItem(ACCOUNT_KEY, JSON.stringify({ user }));
    },
    rooms(userId: string): Room[] {
      return readJson<Room[]>(storage, roomsKey(userId)) ?? [];
    },
    setRooms(userId: string, rooms: Room[]): void {
      storage.setItem(roomsKey(userId), JSON.stringify(rooms));
    },
    upsertRoom(userId: string, room: Room): void {
      const rooms = this.rooms(userId).filter((r) => r.id !== room.id);
      rooms.push(room);
      this.setRooms(userId, rooms);
    },
    removeRoom(userId: string, roomId: string): void {
      this.setRooms(
        userId,
        this.rooms(userId).filter((r) => r.id !== roomId),
      );
    },
    /** The last known member list of a room: names for authors and mentions while offline. */
    members(userId: string, roomId: string): CachedMember[] {
      return readJson<CachedMember[]>(storage, membersKey(userId, roomId)) ?? [];
    },
    setMembers(userId: string, roomId: string, members: CachedMember[]): void {
      storage.setItem(membersKey(userId, roomId), JSON.stringify(members));
    },
    /** Ids of messages written here that the server has not acknowledged yet. */
    pending(userId: string, document: string): string[] {
      return readJson<string[]>(storage, pendingKey(userId, document)) ?? [];
    },
    setPending(userId: string, document: string, ids: string[]): void {
      if (ids.length === 0) storage.removeItem(pendingKey(userId, document));
      else storage.setItem(pendingKey(userId, document), JSON.stringify(ids));
    },
    /** Forgets everything about one account: who it is, its rooms, its pending ids. */
    clearAccount(userId: string): void {
      if (this.user()?.id === userId) storage.removeItem(ACCOUNT_KEY);
      const doomed: string[] = [];
      for (let i = 0; i < storage.length; i++) {
        const key = storage.key(i);
        if (
          key &&
          (key === roomsKey(userId) ||
            key.startsWith(`confab:pending:${userId}:`) ||
            key.startsWith(`confab:members:${userId}:`))
        )
          doomed.push(key);
      }
      for (const key of doomed) storage.removeItem(key);
    },
  };
}

export type AccountCache = ReturnType<typeof createAccountCache>;

/** Deletes every IndexedDB database that belongs to `userId`. Resolves with their names. */
export async function deleteAccountDatabases(factory: IDBFactory, userId: string): Promise<string[]> {
  const prefix = idbName(userId, '');
  const all = await factory.databases();
  const names = all.map((d) => d.name).filter((name): name is string => !!name && name.startsWith(prefix));
  await Promise.all(
    names.map(
      (name) =>
        new Promise<void>((resolve, reject) => {
          const request = factory.deleteDatabase(name);
          request.onsuccess = () => resolve();
          request.onerror = () => reject(request.error);
          // Another tab holding the database open delays deletion until it closes; do not hang sign-out on it.
          request.onblocked = () => resolve();
        }),
    ),
  );
  return names;
}
