import http from 'node:http';
import type { AddressInfo } from 'node:net';
import data from 'emojibase-data/en/data.json';
import github from 'emojibase-data/en/shortcodes/github.json';
import { afterEach, describe, expect, it } from 'vitest';
import {
  completedShortcode,
  emojiCandidates,
  emojiQuery,
  insideCode,
  loadShortcodes,
  resetShortcodesForTests,
  SHORTCODES_URL,
  type Shortcode,
  shortcodeTable,
} from './emoji-shortcodes';

describe('shortcodeTable', () => {
  it("pairs every name with its emoji, in Emojibase's order", () => {
    const table = shortcodeTable(
      [
        { hexcode: '1F602', emoji: '😂', order: 2 },
        { hexcode: '1F44D', emoji: '👍', order: 1 },
        { hexcode: '1F600', emoji: '😀', order: 3 },
      ],
      { '1F44D': ['+1', 'thumbsup'], '1F602': 'joy' },
    );
    expect(table).toEqual([
      ['+1', '👍'],
      ['thumbsup', '👍'],
      ['joy', '😂'],
    ]);
  });

  it("covers Emojibase's English data with GitHub's names", () => {
    const table = shortcodeTable(data, github);
    expect(table.length).toBeGreaterThan(1800);
    const emojiOf = new Map(table);
    expect(emojiOf.get('thumbsup')).toBe('👍');
    expect(emojiOf.get('+1')).toBe('👍');
    expect(emojiOf.get('joy')).toBe('😂');
    expect(emojiOf.get('tada')).toBe('🎉');
  });
});

describe('emojiQuery', () => {
  it('finds a colon and two or more name characters before the caret', () => {
    expect(emojiQuery(':th', 3)).toEqual({ start: 0, query: 'th' });
    expect(emojiQuery('nice :Thu', 9)).toEqual({ start: 5, query: 'thu' });
    expect(emojiQuery('(:+1', 4)).toEqual({ start: 1, query: '+1' });
    expect(emojiQuery('so :joy and', 7)).toEqual({ start: 3, query: 'joy' });
  });

  it('ignores one character, a finished name, times, addresses and colons inside words', () => {
    expect(emojiQuery(':t', 2)).toBeNull();
    expect(emojiQuery(':joy:', 5)).toBeNull();
    expect(emojiQuery('at 10:30', 8)).toBeNull();
    expect(emojiQuery('at :30', 6)).toBeNull();
    expect(emojiQuery('see http://example', 18)).toBeNull();
    expect(emojiQuery('key:value', 9)).toBeNull();
    expect(emojiQuery(`:${'a'.repeat(33)}`, 34)).toBeNull();
  });
});

describe('emojiCandidates', () => {
  const table: Shortcode[] = [
    ['+1', '👍'],
    ['thumbsup', '👍'],
    ['thumbsdown', '👎'],
    ['the_horns', '🤘'],
    ['smile', '😄'],
    ['smiley', '😃'],
    ['sweat_smile', '😅'],
    ['small_airplane', '🛩️'],
  ];

  it('puts the exact name first, then names starting with the query, then names with a word starting with it', () => {
    expect(emojiCandidates(table, 'smile')).toEqual([
      ['smile', '😄'],
      ['smiley', '😃'],
      ['sweat_smile', '😅'],
    ]);
    expect(emojiCandidates(table, 'sm').map(([code]) => code)).toEqual([
      'smile',
      'smiley',
      'small_airplane',
      'sweat_smile',
    ]);
  });

  it('names each emoji once, by its first matching name, and stops at the limit', () => {
    expect(emojiCandidates(table, 'th')).toEqual([
      ['thumbsup', '👍'],
      ['thumbsdown', '👎'],
      ['the_horns', '🤘'],
    ]);
    expect(emojiCandidates(table, 'th', 2)).toHaveLength(2);
    expect(emojiCandidates(table, 'zzz')).toEqual([]);
    // Inside a word is not enough: Enter would take it where the user meant to send.
    expect(emojiCandidates(table, 'up')).toEqual([]);
  });
});

describe('completedShortcode', () => {
  const table: Shortcode[] = [
    ['+1', '👍'],
    ['tada', '🎉'],
  ];

  it('turns a name typed out with its closing colon into its emoji', () => {
    expect(completedShortcode(table, ':tada:', 6)).toEqual({ start: 0, emoji: '🎉' });
    expect(completedShortcode(table, 'done :+1:', 9)).toEqual({ start: 5, emoji: '👍' });
    expect(completedShortcode(table, 'done :TADA: and more', 11)).toEqual({ start: 5, emoji: '🎉' });
  });

  it('leaves unknown names, names inside words and names in code as typed', () => {
    expect(completedShortcode(table, ':nope:', 6)).toBeNull();
    expect(completedShortcode(table, 'std:tada:', 9)).toBeNull();
    expect(completedShortcode(table, 'run `x :tada:', 13)).toBeNull();
    expect(completedShortcode(table, '```\nlabel :tada:', 16)).toBeNull();
    expect(completedShortcode(table, '`x` then :tada:', 15)).toEqual({ start: 9, emoji: '🎉' });
  });
});

describe('insideCode', () => {
  it('knows an open code span on the line and an open fenced block', () => {
    expect(insideCode('a `b', 4)).toBe(true);
    expect(insideCode('a `b` c', 7)).toBe(false);
    expect(insideCode('```\ncode', 8)).toBe(true);
    expect(insideCode('```\ncode\n```\nafter', 18)).toBe(false);
    expect(insideCode('`open\nnext line', 15)).toBe(false);
  });
});

describe('loadShortcodes', () => {
  const servers: http.Server[] = [];
  afterEach(() => {
    resetShortcodesForTests();
    for (const s of servers.splice(0)) s.close();
  });

  async function serve(status: number, body: string): Promise<{ fetcher: typeof fetch; asked: () => number }> {
    let asked = 0;
    const server = http.createServer((req, res) => {
      if (req.url === SHORTCODES_URL) asked++;
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { fetcher: ((url: string) => fetch(base + url)) as typeof fetch, asked: () => asked };
  }

  function memoryStorage() {
    const items = new Map<string, string>();
    return { getItem: (k: string) => items.get(k) ?? null, setItem: (k: string, v: string) => void items.set(k, v) };
  }

  it('fetches the table once per page and keeps it for offline use', async () => {
    const storage = memoryStorage();
    const online = await serve(200, JSON.stringify([['joy', '😂']]));
    expect(await loadShortcodes(online.fetcher, storage)).toEqual([['joy', '😂']]);
    expect(await loadShortcodes(online.fetcher, storage)).toEqual([['joy', '😂']]);
    expect(online.asked()).toBe(1);

    // A later page, offline (nothing listens at the address): the kept copy.
    resetShortcodesForTests();
    const offline = (() => fetch('http://127.0.0.1:9/')) as typeof fetch;
    expect(await loadShortcodes(offline, storage)).toEqual([['joy', '😂']]);
  });

  it('falls back to the kept copy, or to nothing, on an error or a malformed answer, and asks again later', async () => {
    const storage = memoryStorage();
    const failing = await serve(500, '{}');
    expect(await loadShortcodes(failing.fetcher, storage)).toEqual([]);
    const malformed = await serve(200, JSON.stringify({ joy: '😂' }));
    expect(await loadShortcodes(malformed.fetcher, storage)).toEqual([]);
    const garbage = await serve(200, 'not json');
    expect(await loadShortcodes(garbage.fetcher, storage)).toEqual([]);
    const good = await serve(200, JSON.stringify([['tada', '🎉']]));
    expect(await loadShortcodes(good.fetcher, storage)).toEqual([['tada', '🎉']]);
    expect([failing.asked(), malformed.asked(), garbage.asked(), good.asked()]).toEqual([1, 1, 1, 1]);
  });
});
