import { describe, expect, it } from 'vitest';
import { isQuiet, localMinuteOfDay, quietEndsAt } from './quiet-hours';

const at = (iso: string) => Date.parse(iso);

describe('quiet hours', () => {
  const night = { start: '22:00', end: '07:00', timeZone: 'America/New_York' };

  it('reads the local time in the user’s time zone', () => {
    // 03:30 UTC on 26 Nov is 22:30 the day before in New York (EST, UTC-5).
    expect(localMinuteOfDay('America/New_York', at('2026-11-26T03:30:00Z'))).toBe(22 * 60 + 30);
    expect(localMinuteOfDay('Asia/Kolkata', at('2026-11-26T03:30:00Z'))).toBe(9 * 60);
  });

  it('spans midnight when the start is after the end', () => {
    expect(isQuiet(night, at('2026-11-26T03:30:00Z'))).toBe(true); // 22:30 local
    expect(isQuiet(night, at('2026-11-26T08:00:00Z'))).toBe(true); // 03:00 local
    expect(isQuiet(night, at('2026-11-26T11:59:00Z'))).toBe(true); // 06:59 local
    expect(isQuiet(night, at('2026-11-26T12:00:00Z'))).toBe(false); // 07:00 local: over
    expect(isQuiet(night, at('2026-11-26T02:59:00Z'))).toBe(false); // 21:59 local
  });

  it('is a plain window when the start is before the end', () => {
    const lunch = { start: '12:00', end: '13:00', timeZone: 'UTC' };
    expect(isQuiet(lunch, at('2026-11-26T11:59:00Z'))).toBe(false);
    expect(isQuiet(lunch, at('2026-11-26T12:00:00Z'))).toBe(true);
    expect(isQuiet(lunch, at('2026-11-26T12:59:59Z'))).toBe(true);
    expect(isQuiet(lunch, at('2026-11-26T13:00:00Z'))).toBe(false);
  });

  it('equal start and end means no quiet hours, and null means none', () => {
    expect(isQuiet({ start: '09:00', end: '09:00', timeZone: 'UTC' }, at('2026-11-26T09:00:00Z'))).toBe(false);
    expect(isQuiet(null, at('2026-11-26T09:00:00Z'))).toBe(false);
  });

  it('ends at the local end time, across midnight', () => {
    // 22:30 New York → 07:00 New York the next morning = 12:00 UTC.
    expect(quietEndsAt(night, at('2026-11-26T03:30:00Z'))).toBe(at('2026-11-26T12:00:00Z'));
    // 03:00 New York → 07:00 = 12:00 UTC the same day.
    expect(quietEndsAt(night, at('2026-11-26T08:00:20Z'))).toBe(at('2026-11-26T12:00:00Z'));
  });

  it('ends now when it is not quiet', () => {
    const now = at('2026-11-26T15:00:00Z');
    expect(quietEndsAt(night, now)).toBe(now);
  });
});
