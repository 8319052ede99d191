import { describe, expect, it } from 'vitest';
import { filterAwarenessState } from './awareness';

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
