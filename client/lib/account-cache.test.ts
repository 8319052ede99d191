import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { createAccountCache, deleteAccountDatabases, idbName, type KeyValueStorage } from './account-cache';

function memoryStorage(): KeyValueStorage {
  const map = new Map<string, string>();
  return {
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
    key: (i) => [...map.keys()][i] ?? null,
    get length() {
      return map.size;
    },
  };
}

const user = (id: string) => ({ id, email: `${id}@x.org`, displayName: id, createdAt: 0 });
const room = (id: string) => ({ id, name: id, topic: null, createdAt: 0, role: 'owner' as const });

function openDb(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name);
    request.onsuccess = () => {
      request.result.close();
      resolve();
    };
    request.onerror = () => reject(request.error);
  });
}

describe('account cache', () => {
  it('remembers the signed-in user and their rooms across instances (an offline reload)', () => {
    const storage = memoryStorage();
    const first = createAccountCache(storage);
    first.setUser(user('u1'));
    first.setRooms('u1', [room('r1')]);
    const afterReload = createAccountCache(storage);
    expect(afterReload.user()?.id).toBe('u1');
    expect(afterReload.rooms('u1').map((r) => r.id)).toEqual(['r1']);
  });

  it('forgets one account on sign-out and keeps the others', () => {
    const storage = memoryStorage();
    const cache = createAccountCache(storage);
    cache.setUser(user('u1'));
    cache.setRooms('u1', [room('r1')]);
    cache.setPending('u1', 'room:r1', ['m1']);
    cache.setMembers('u1', 'r1', [{ userId: 'u1', displayName: 'U', role: 'owner' }]);
    cache.setRooms('u2', [room('r2')]);
    cache.clearAccount('u1');
    expect(cache.user()).toBeNull();
    expect(cache.rooms('u1')).toEqual([]);
    expect(cache.pending('u1', 'room:r1')).toEqual([]);
    expect(cache.members('u1', 'r1')).toEqual([]);
    expect(cache.rooms('u2').map((r) => r.id)).toEqual(['r2']);
  });

  it('treats a corrupt entry as absent', () => {
    const storage = memoryStorage();
    storage.setItem('confab:account', '{not json');
    expect(createAccountCache(storage).user()).toBeNull();
  });

  it("deletes only that account's IndexedDB databases", async () => {
    await openDb(idbName('u1', 'room:r1'));
    await openDb(idbName('u1', 'user:u1'));
    await openDb(idbName('u2', 'room:r1'));
    const deleted = await deleteAccountDatabases(indexedDB, 'u1');
    expect(deleted.sort()).toEqual([idbName('u1', 'room:r1'), idbName('u1', 'user:u1')]);
    const left = (await indexedDB.databases()).map((d) => d.name);
    expect(left).toEqual([idbName('u2', 'room:r1')]);
  });
});
