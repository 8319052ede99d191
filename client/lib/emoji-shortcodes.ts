/**
 * `:shortcode:` completion in the composer: type a colon and two letters of an emoji's name
 * (`:thu` → 👍 `:thumbsup:`), as in Slack, Zulip, GitHub or Element. The names are GitHub's, from
 * Emojibase, served by the app at SHORTCODES_URL and kept in localStorage once fetched, so
 * completion works offline as the rest of the composer does.
 */

import { canonicalEmoji } from '@confab/protocol';

export type Shortcode = readonly [code: string, emoji: string];

export const SHORTCODES_URL = '/emojibase/en/shortcodes.json';
const STORAGE_KEY = 'confab:emoji-shortcodes:v1';

interface EmojibaseEmoji {
  hexcode: string;
  emoji: string;
  order?: number;
}

/** `[code, emoji]` for every name of every emoji in `emojis` (Emojibase's order), from a hexcode → name(s) map. */
export function shortcodeTable(
  emojis: readonly EmojibaseEmoji[],
  names: Readonly<Record<string, string | readonly string[]>>,
): Shortcode[] {
  const ordered = [...emojis].sort(
    (a, b) => (a.order ?? Number.MAX_SAFE_INTEGER) - (b.order ?? Number.MAX_SAFE_INTEGER),
  );
  const table: Shortcode[] = [];
  for (const { hexcode, emoji } of ordered) {
    const codes = names[hexcode];
    if (codes === undefined) continue;
    // Written as the reactions write it (Emojibase spells 👍 with a variation selector).
    for (const code of typeof codes === 'string' ? [codes] : codes) table.push([code, canonicalEmoji(emoji)]);
  }
  return table;
}

/**
 * The shortcode being typed at the caret: a colon at the start of the text or after a space or an
 * opening bracket, then a letter (or `+`, `-`: `:+1`) and 1 to 31 more of the characters names are
 * made of. `10:30`, `at :30` and `http://` are not.
 */
export function emojiQuery(text: string, caret: number): { start: number; query: string } | null {
  const match = /(?:^|[\s([{])(:([a-z+-][a-z0-9_+-]{1,31}))$/i.exec(text.slice(0, caret));
  if (!match) return null;
  const query = match[2]!;
  return { start: caret - query.length - 1, query: query.toLowerCase() };
}

/**
 * Up to `limit` emoji whose names match `query`: the exact name first, then names that start with
 * it, then names with a later word that does (`:smile` → `sweat_smile`), each emoji once, by its
 * first matching name. A name that merely contains the query (`thumbsup` for `:up`) is not offered:
 * Enter would take it where the user meant to send.
 */
export function emojiCandidates(table: readonly Shortcode[], query: string, limit = 6): Shortcode[] {
  const q = query.toLowerCase();
  const ranked: { entry: Shortcode; rank: number; index: number }[] = [];
  table.forEach((entry, index) => {
    const code = entry[0];
    const rank = code === q ? 0 : code.startsWith(q) ? 1 : code.includes(`_${q}`) ? 2 : -1;
    if (rank >= 0) ranked.push({ entry, rank, index });
  });
  ranked.sort((a, b) => a.rank - b.rank || a.index - b.index);
  const seen = new Set<string>();
  const out: Shortcode[] = [];
  for (const { entry } of ranked) {
    if (seen.has(entry[1])) continue;
    seen.add(entry[1]);
    out.push(entry);
    if (out.length === limit) break;
  }
  return out;
}

/** Whether the caret is inside a code span or a fenced block, where `:name:` is code, not an emoji. */
export function insideCode(text: string, caret: number): boolean {
  const before = text.slice(0, caret);
  const fences = before.split('```').length - 1;
  if (fences % 2 === 1) return true;
  const line = before.slice(before.lastIndexOf('\n') + 1).replaceAll('```', '');
  return (line.split('`').length - 1) % 2 === 1;
}

/**
 * A name typed out in full, closing colon included (`:tada:`), as people used to other chats do:
 * where the emoji goes, or null when the text before the caret does not end with a known name
 * (or ends with one inside code).
 */
export function completedShortcode(
  table: readonly Shortcode[],
  text: string,
  caret: number,
): { start: number; emoji: string } | null {
  const match = /(?:^|[\s([{]):([a-z+-][a-z0-9_+-]{1,31}):$/i.exec(text.slice(0, caret));
  if (!match) return null;
  const code = match[1]!.toLowerCase();
  const entry = table.find(([name]) => name === code);
  if (!entry || insideCode(text, caret)) return null;
  return { start: caret - code.length - 2, emoji: entry[1] };
}

function isTable(value: unknown): value is Shortcode[] {
  return (
    Array.isArray(value) &&
    value.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && typeof e[1] === 'string')
  );
}

let loading: Promise<Shortcode[]> | null = null;

/**
 * The table, fetched once per page (and kept in `storage`); offline, the kept copy. Resolves with
 * an empty table when there is neither: completion then offers nothing, and typing goes on.
 */
export function loadShortcodes(
  fetcher: typeof fetch = fetch,
  storage: Pick<Storage, 'getItem' | 'setItem'> | null = typeof localStorage === 'undefined' ? null : localStorage,
): Promise<Shortcode[]> {
  loading ??= (async () => {
    const kept = (): Shortcode[] => {
      try {
        const value: unknown = JSON.parse(storage?.getItem(STORAGE_KEY) ?? 'null');
        return isTable(value) ? value : [];
      } catch {
        return [];
      }
    };
    try {
      const response = await fetcher(SHORTCODES_URL);
      if (!response.ok) return kept();
      const value: unknown = await response.json();
      if (!isTable(value)) return kept();
      try {
        storage?.setItem(STORAGE_KEY, JSON.stringify(value));
      } catch {
        // Storage full or refused: completion still works for this page.
      }
      return value;
    } catch {
      return kept();
    }
  })();
  const result = loading;
  // A table that could not be had is asked for again next time.
  void result.then((table) => {
    if (table.length === 0 && loading === result) loading = null;
  });
  return result;
}

/** For tests: forget the table fetched by this page. */
export function resetShortcodesForTests(): void {
  loading = null;
}
