import { describe, expect, it } from 'vitest';
import { applyPatch, DEFAULT_PREFERENCES, parsePreferencesPatch, unknownRoomIds } from './preferences';

describe('preferences', () => {
  it('accepts any subset of the fields', () => {
    expect(parsePreferencesPatch({ push: false })).toEqual({ ok: true, patch: { push: false } });
    expect(parsePreferencesPatch({})).toEqual({ ok: true, patch: {} });
  });

  it.each([
    [{ default: 'loud' }, 'default'],
    [{ rooms: { r1: 'sometimes' } }, 'rooms.r1'],
    [{ emailDelayMinutes: -1 }, 'emailDelayMinutes'],
    [{ emailDelayMinutes: 2.5 }, 'emailDelayMinutes'],
    [{ quietHours: { start: '25:00', end: '07:00', timeZone: 'UTC' } }, 'quietHours.start'],
    [{ quietHours: { start: '22:00', end: '7:00', timeZone: 'UTC' } }, 'quietHours.end'],
    [{ quietHours: { start: '22:00', end: '07:00', timeZone: 'Mars/Olympus' } }, 'quietHours.timeZone'],
    [{ push: 'yes' }, 'push'],
    [{ sound: true }, 'sound'],
  ])('refuses %j naming the field %s', (body, field) => {
    const result = parsePreferencesPatch(body);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.field).toBe(field);
  });

  it('takes a room set to null out of rooms, so it follows the default again', () => {
    const pinned = applyPatch(DEFAULT_PREFERENCES, { rooms: { a: 'mentions', b: 'none' } });
    const back = applyPatch(pinned, { rooms: { a: null } });
    expect(back.rooms).toEqual({ b: 'none' });
    expect(applyPatch(back, { default: 'none' }).rooms).toEqual({ b: 'none' });
    expect(parsePreferencesPatch({ rooms: { a: null } })).toEqual({ ok: true, patch: { rooms: { a: null } } });
  });

  it('merges rooms entry by entry and replaces the rest', () => {
    const first = applyPatch(DEFAULT_PREFERENCES, { rooms: { a: 'none' }, emailDelayMinutes: 5 });
    const second = applyPatch(first, { rooms: { b: 'mentions' }, quietHours: null });
    expect(second).toEqual({ ...DEFAULT_PREFERENCES, rooms: { a: 'none', b: 'mentions' }, emailDelayMinutes: 5 });
  });

  it('finds the room ids the user is not a member of', () => {
    expect(unknownRoomIds({ rooms: { a: 'all', x: 'none' } }, ['a', 'b'])).toEqual(['x']);
    // Taking a left room's entry away is fine.
    expect(unknownRoomIds({ rooms: { a: 'all', x: null } }, ['a', 'b'])).toEqual([]);
    expect(unknownRoomIds({ push: true }, [])).toEqual([]);
  });
});
