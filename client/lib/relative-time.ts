/**
 * How long ago something happened, as a notification list says it: "just
 * now", "5 minutes ago", "3 hours ago", "yesterday", then the date. Words
 * from Intl.RelativeTimeFormat, in the user's language.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Milliseconds since the epoch, from the API's ISO string or number; NaN when it is neither. */
export function epochMs(value: string | number): number {
  return typeof value === 'number' ? value : Date.parse(value);
}

export function relativeTime(then: number, now: number, locale?: string): string {
  if (!Number.isFinite(then)) return '';
  const elapsed = now - then;
  const words = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  // A clock a little ahead of ours (the server's) is still "just now", not "in 1 minute".
  if (elapsed < MINUTE) return words.format(0, 'second');
  if (elapsed < HOUR) return words.format(-Math.floor(elapsed / MINUTE), 'minute');
  if (elapsed < DAY) return words.format(-Math.floor(elapsed / HOUR), 'hour');
  const days = calendarDaysBetween(then, now);
  if (days <= 1) return words.format(-1, 'day');
  if (days < 7) return words.format(-days, 'day');
  const sameYear = new Date(then).getFullYear() === new Date(now).getFullYear();
  return new Intl.DateTimeFormat(locale, {
    day: 'numeric',
    month: 'short',
    ...(sameYear ? {} : { year: 'numeric' }),
  }).format(then);
}

/** Whole local calendar days from `then`'s date to `now`'s (yesterday 23:59 to today 00:01 is 1). */
function calendarDaysBetween(then: number, now: number): number {
  const start = new Date(then);
  const end = new Date(now);
  const startDay = Date.UTC(start.getFullYear(), start.getMonth(), start.getDate());
  const endDay = Date.UTC(end.getFullYear(), end.getMonth(), end.getDate());
  return Math.round((endDay - startDay) / DAY);
}
