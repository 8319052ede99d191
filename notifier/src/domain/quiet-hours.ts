import type { QuietHours } from './preferences';

const MINUTES_PER_DAY = 24 * 60;

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Minutes since local midnight in `timeZone` at `nowMs`. */
export function localMinuteOfDay(timeZone: string, nowMs: number): number {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', minute: 'numeric', hourCycle: 'h23' });
    formatters.set(timeZone, formatter);
  }
  let hour = 0;
  let minute = 0;
  for (const part of formatter.formatToParts(nowMs)) {
    if (part.type === 'hour') hour = Number(part.value);
    if (part.type === 'minute') minute = Number(part.value);
  }
  return (hour % 24) * 60 + minute;
}

/**
 * True while quiet hours are on. The window is [start, end) in the user's
 * local time; a start after the end spans midnight (22:00–07:00). Equal start
 * and end means no quiet hours at all, not a whole day: a whole day of
 * silence is what the level `none` is for.
 */
export function isQuiet(quietHours: QuietHours | null, nowMs: number): boolean {
  if (!quietHours) return false;
  const start = minutesOf(quietHours.start);
  const end = minutesOf(quietHours.end);
  if (start === end) return false;
  const now = localMinuteOfDay(quietHours.timeZone, nowMs);
  return start < end ? now >= start && now < end : now >= start || now < end;
}

/**
 * When the current quiet period ends (epoch ms), or `nowMs` when it is not
 * quiet. Counted in whole local minutes from now, so a DST change inside the
 * window shifts the end by that hour; pushes held back are simply sent then.
 */
export function quietEndsAt(quietHours: QuietHours | null, nowMs: number): number {
  if (!quietHours || !isQuiet(quietHours, nowMs)) return nowMs;
  const end = minutesOf(quietHours.end);
  const now = localMinuteOfDay(quietHours.timeZone, nowMs);
  const minutesLeft = (end - now + MINUTES_PER_DAY) % MINUTES_PER_DAY;
  const startOfMinuteMs = nowMs - (nowMs % 60_000);
  return startOfMinuteMs + minutesLeft * 60_000;
}
