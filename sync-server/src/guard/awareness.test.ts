import { describe, expect, it } from 'vitest';
import {
  AwarenessOwners,
  filterAwarenessState,
  filterAwarenessStates,
  MAX_AWARENESS_CLIENTS_PER_CONNECTION,
  MAX_RELEASED_AWARENESS_CLIENTS,
} from './awareness';

const own = { user: { id: 'alice', displayName: 'Alice' }, typing: false };

describe('awareness filtering', () => {
  it('relays the connection user’s own presence in the v1 shape', () => {
    expect(filterAwarenessState(own, 'alice')).toBe(true);
    expect(filterAwarenessState({ ...own, typing: true }, 'alice')).toBe(true);
  });

  it('drops a state that claims to be another user', () => {
    expect(filterAwarenessState({ ...own, user: { id: 'bob', displayName: 'Bob' } }, 'alice')).toBe(false);
  });

  it('drops a state with extra or missing fields or wrong types', () => {
    expect(filterAwarenessState({ ...own, cursor: 1 }, 'alice')).toBe(false);
    expect(filterAwarenessState({ typing: true }, 'alice')).toBe(false);
    expect(filterAwarenessState({}, 'alice')).toBe(false);
    expect(filterAwarenessState({ ...own, typing: 'yes' }, 'alice')).toBe(false);
    expect(filterAwarenessState({ ...own, user: { ...own.user, avatar: 'x' } }, 'alice')).toBe(false);
    expect(filterAwarenessState({ ...own, user: { id: 'alice', displayName: '' } }, 'alice')).toBe(false);
    expect(filterAwarenessState({ ...own, user: { id: 'alice', displayName: 'x'.repeat(101) } }, 'alice')).toBe(false);
    expect(filterAwarenessState([own], 'alice')).toBe(false);
    expect(filterAwarenessState('alice', 'alice')).toBe(false);
  });

  it('relays a state whose typing is not set yet (the client sets user and typing in two calls)', () => {
    expect(filterAwarenessState({ user: own.user }, 'alice')).toBe(true);
  });

  it('drops a state without typing that claims another user or has wrong types', () => {
    expect(filterAwarenessState({ user: { id: 'bob', displayName: 'Bob' } }, 'alice')).toBe(false);
    expect(filterAwarenessState({ user: { id: 'alice', displayName: 7 } }, 'alice')).toBe(false);
    expect(filterAwarenessState({ user: 'alice' }, 'alice')).toBe(false);
    expect(filterAwarenessState({ user: own.user, typing: null }, 'alice')).toBe(false);
  });

  it('relays a null state, which is how a client says it left', () => {
    expect(filterAwarenessState(null, 'alice')).toBe(true);
  });
});

describe('awareness client ids belong to the connection that introduced them', () => {
  const tab1 = { name: 'alice tab 1' };
  const tab1Again = { name: 'alice tab 1, reconnected' };
  const mallory = { name: 'mallory' };
  const state = (id: string) => ({ user: { id, displayName: id } });
  const filtered = (
    entries: Array<[number, unknown]>,
    connection: object,
    userId: string,
    owners: AwarenessOwners<object>,
  ) => {
    const states = new Map(entries);
    filterAwarenessStates(states, { connection, userId }, owners);
    return [...states.keys()];
  };

  it('lets the first connection with a state claim an id and refuses it to every other connection', () => {
    const owners = new AwarenessOwners<object>();
    expect(filtered([[1, state('alice')]], tab1, 'alice', owners)).toEqual([1]);
    expect(filtered([[1, state('mallory')]], mallory, 'mallory', owners)).toEqual([]);
    expect(filtered([[1, null]], mallory, 'mallory', owners)).toEqual([]);
    expect(
      filtered(
        [
          [1, state('alice')],
          [1, null],
        ],
        tab1,
        'alice',
        owners,
      ),
    ).toEqual([1]);
    expect(owners.heldBy(tab1)).toEqual([1]);
    expect(owners.heldBy(mallory)).toEqual([]);
  });

  it(`lets one connection hold at most ${MAX_AWARENESS_CLIENTS_PER_CONNECTION} ids`, () => {
    const owners = new AwarenessOwners<object>();
    const entries = Array.from({ length: 50 }, (_, i): [number, unknown] => [100 + i, state('mallory')]);
    expect(filtered(entries, mallory, 'mallory', owners)).toEqual([100, 101, 102, 103]);
    expect(
      filtered(
        [
          [200, state('mallory')],
          [101, state('mallory')],
        ],
        mallory,
        'mallory',
        owners,
      ),
    ).toEqual([101]);
    // The refused ids stay free for others.
    expect(filtered([[104, state('alice')]], tab1, 'alice', owners)).toEqual([104]);
  });

  it('claims nothing with a refused state or a null', () => {
    const owners = new AwarenessOwners<object>();
    expect(
      filtered(
        [
          [1, { user: { id: 'bob', displayName: 'Bob' } }],
          [2, null],
        ],
        mallory,
        'mallory',
        owners,
      ),
    ).toEqual([]);
    expect(owners.heldBy(mallory)).toEqual([]);
    expect(
      filtered(
        [
          [1, state('alice')],
          [2, state('alice')],
        ],
        tab1,
        'alice',
        owners,
      ),
    ).toEqual([1, 2]);
  });

  it('keeps a released id for the same user’s next connection and refuses it to anyone else', () => {
    const owners = new AwarenessOwners<object>();
    filtered([[1, state('alice')]], tab1, 'alice', owners);
    expect(owners.release(tab1)).toEqual([1]);
    expect(owners.heldBy(tab1)).toEqual([]);
    expect(filtered([[1, state('mallory')]], mallory, 'mallory', owners)).toEqual([]);
    expect(filtered([[1, state('alice')]], tab1Again, 'alice', owners)).toEqual([1]);
    // Taken back by the reconnected tab, it is no longer the old connection's to release.
    expect(owners.release(tab1)).toEqual([]);
    expect(filtered([[1, null]], tab1Again, 'alice', owners)).toEqual([1]);
  });

  it('refuses to let anyone claim an id whose state the document shows from elsewhere (another instance)', () => {
    const owners = new AwarenessOwners<object>();
    const shownFromRedis = new Set([7]);
    const elsewhere = (clientId: number) => shownFromRedis.has(clientId);
    const states = new Map<number, unknown>([
      [7, state('mallory')],
      [8, state('mallory')],
    ]);
    filterAwarenessStates(states, { connection: mallory, userId: 'mallory' }, owners, elsewhere);
    expect([...states.keys()]).toEqual([8]);
    // Once it left there, the id is free again.
    shownFromRedis.delete(7);
    const again = new Map<number, unknown>([[7, state('alice')]]);
    filterAwarenessStates(again, { connection: tab1, userId: 'alice' }, owners, elsewhere);
    expect([...again.keys()]).toEqual([7]);
  });

  it(`forgets the users of the oldest released ids beyond ${MAX_RELEASED_AWARENESS_CLIENTS}`, () => {
    const owners = new AwarenessOwners<object>();
    const connections = Array.from({ length: MAX_RELEASED_AWARENESS_CLIENTS / 4 + 1 }, () => ({}));
    connections.forEach((connection, i) => {
      const ids = [0, 1, 2, 3].map((k): [number, unknown] => [i * 4 + k, state('alice')]);
      filtered(ids, connection, 'alice', owners);
      owners.release(connection);
    });
    // The four oldest are free for anyone again; the newest are still alice's.
    expect(filtered([[0, state('mallory')]], mallory, 'mallory', owners)).toEqual([0]);
    expect(filtered([[MAX_RELEASED_AWARENESS_CLIENTS, state('mallory')]], mallory, 'mallory', owners)).toEqual([]);
  });
});
