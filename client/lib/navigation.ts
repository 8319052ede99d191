/**
 * The app's own pages that `?next=` may return to after sign-in. Each path
 * segment is one non-empty segment without a slash (ids and invite codes).
 */
const NEXT_ROUTES: readonly RegExp[] = [/^\/chat$/, /^\/chat\/[^/]+$/, /^\/invite\/[^/]+$/, /^\/profile$/];

const FALLBACK = '/chat';

/**
 * Where to go after sign-in: `raw` (the `?next=` parameter) only when it
 * resolves, against `origin` (the page's), to one of the app's routes on that
 * same origin; otherwise `/chat` (no open redirect through `?next=`).
 *
 * Prefix checks on the raw string are not enough: the URL parser drops tabs
 * and newlines and reads `\` as `/`, so `/\t/evil.example` looks like a path
 * here but becomes `//evil.example` (another host) once Next's router parses
 * it. So the string is resolved exactly as the browser will, and what is
 * returned is the normalized result, never the raw input.
 */
export function safeNext(raw: string | null, origin: string): string {
  if (!raw) return FALLBACK;
  let url: URL;
  try {
    url = new URL(raw, origin);
  } catch {
    return FALLBACK;
  }
  if (url.origin !== new URL(origin).origin) return FALLBACK;
  if (!NEXT_ROUTES.some((route) => route.test(url.pathname))) return FALLBACK;
  return `${url.pathname}${url.search}${url.hash}`;
}

const JUST_JOINED = 'confab:just-joined';

/**
 * The invite screen notes the room it has just joined, so that the room opens at its end: all of
 * its history is new to a newcomer, and a "New messages" line above the whole of it (with the
 * room opened at its first message) would help no one.
 */
export function noteJustJoined(roomId: string): void {
  try {
    sessionStorage.setItem(JUST_JOINED, roomId);
  } catch {
    // Storage refused (private mode, quota): the room opens at the line, which is only less handy.
  }
}

/** Whether the room was just joined (once: the note is taken away). */
export function takeJustJoined(roomId: string): boolean {
  try {
    if (sessionStorage.getItem(JUST_JOINED) !== roomId) return false;
    sessionStorage.removeItem(JUST_JOINED);
    return true;
  } catch {
    return false;
  }
}

/**
 * The rooms whose name matches what was typed into the room switcher, best first: names that
 * start with it, then names with a word that does, then names that contain it (case and accents
 * ignored), each group in the order given. Everything when nothing is typed.
 */
export function matchRooms<T extends { name: string }>(rooms: readonly T[], query: string): T[] {
  const fold = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
  const q = fold(query.trim());
  if (q === '') return [...rooms];
  const ranked: [number, T][] = [];
  for (const room of rooms) {
    const name = fold(room.name);
    const rank = name.startsWith(q)
      ? 0
      : name.split(/\s+/).some((w) => w.startsWith(q))
        ? 1
        : name.includes(q)
          ? 2
          : -1;
    if (rank >= 0) ranked.push([rank, room]);
  }
  // Array.prototype.sort is stable: within a rank, the given order stays.
  return ranked.sort((a, b) => a[0] - b[0]).map(([, room]) => room);
}
