import { describe, expect, it } from 'vitest';
import { epochMs, relativeTime } from './relative-time';

const now = new Date(2026, 10, 28, 14, 30).getTime(); // local time: 28 Nov 2026, 14:30
const minutes = (n: number) => now - n * 60_000;
const hours = (n: number) => now - n * 3_600_000;

describe('relativeTime', () => {
  it('says "now" for the last minute, and for a time slightly ahead of this clock', () => {
    expect(relativeTime(now - 20_000, now, 'en')).toBe('now');
    expect(relativeTime(now + 5_000, now, 'en')).toBe('now');
  });

  it('counts whole minutes, then whole hours', () => {
    expect(relativeTime(minutes(1), now, 'en')).toBe('1 minute ago');
    expect(relativeTime(minutes(59), now, 'en')).toBe('59 minutes ago');
    expect(relativeTime(minutes(60), now, 'en')).toBe('1 hour ago');
    expect(relativeTime(hours(14) - 20 * 60_000, now, 'en')).toBe('14 hours ago');
  });

  it('says "yesterday" by the calendar once a day has passed, then counts days for a week', () => {
    expect(relativeTime(hours(24), now, 'en')).toBe('yesterday');
    // Two calendar days back, though under 48 hours.
    expect(relativeTime(new Date(2026, 10, 26, 23, 0).getTime(), now, 'en')).toBe('2 days ago');
    expect(relativeTime(new Date(2026, 10, 22, 9, 0).getTime(), now, 'en')).toBe('6 days ago');
  });

  it('gives the date after a week, with the year only when it is not this year', () => {
    expect(relativeTime(new Date(2026, 10, 3, 9, 0).getTime(), now, 'en')).toBe('Nov 3');
    expect(relativeTime(new Date(2025, 11, 30, 9, 0).getTime(), now, 'en')).toBe('Dec 30, 2025');
  });

  it('speaks the language asked for', () => {
    expect(relativeTime(hours(24), now, 'de')).toBe('gestern');
    expect(relativeTime(minutes(5), now, 'fr')).toBe('il y a 5 minutes');
  });

  it('says nothing for a time it cannot read', () => {
    expect(relativeTime(epochMs('not a date'), now, 'en')).toBe('');
  });
});

describe('epochMs', () => {
  it('reads the API’s ISO strings and passes numbers through', () => {
    expect(epochMs('2026-11-28T14:30:00.000Z')).toBe(Date.UTC(2026, 10, 28, 14, 30));
    expect(epochMs(1_700_000_000_000)).toBe(1_700_000_000_000);
  });
});
