import { describe, expect, it } from 'vitest';
import { matchRooms, safeNext } from './navigation';

const ORIGIN = 'https://chat.example';

describe('after sign-in', () => {
  it.each([
    ['/chat', '/chat'],
    ['/chat/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', '/chat/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'],
    ['/invite/abcdefghijklmnop2345', '/invite/abcdefghijklmnop2345'],
    ['/profile', '/profile'],
    ['/chat/room-1?q=hello#m-5', '/chat/room-1?q=hello#m-5'],
    [`${ORIGIN}/invite/abc`, '/invite/abc'],
  ])('returns to the app page the user wanted (%j)', (next, expected) => {
    expect(safeNext(next, ORIGIN)).toBe(expected);
  });

  it.each([
    null,
    '',
    '//evil.example/',
    '//evil.example/chat',
    '/\\evil.example',
    '/\\/evil.example/chat',
    '/\t/evil.example',
    '/\n/evil.example',
    '/\r\n/evil.example/chat',
    '\t//evil.example/chat',
    ' //evil.example/chat',
    '\u0000//evil.example/chat',
    '/%09/evil.example',
    '/%2F%2Fevil.example',
    '/%5C%5Cevil.example',
    'https://evil.example/',
    'https://evil.example/chat',
    'https:evil.example/chat',
    'http://chat.example/chat',
    'https://chat.example@evil.example/chat',
    'javascript:alert(1)',
    'JavaScript:alert(document.domain)//chat',
    'java\tscript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:msgbox(1)',
    '/login',
    '/register?next=//evil.example',
    '/api/auth/logout',
    '/serwist/sw.js',
    '/chat/a/b',
    '/chat/',
    '/invite/',
    'chat',
    '../../chat/../..//evil.example',
  ])('never follows %j anywhere but /chat', (next) => {
    expect(safeNext(next, ORIGIN)).toBe('/chat');
  });

  it('returns the resolved path, not the raw input, so the router sees what was checked', () => {
    expect(safeNext('/chat/../invite/abc', ORIGIN)).toBe('/invite/abc');
    expect(safeNext('/ch\tat/room', ORIGIN)).toBe('/chat/room');
  });
});

describe('matchRooms', () => {
  const rooms = [{ name: 'Design review' }, { name: 'Team café' }, { name: 'Redesign' }, { name: 'Random' }];

  it('puts names starting with the query first, then a word starting with it, then the rest', () => {
    expect(matchRooms(rooms, 'des').map((r) => r.name)).toEqual(['Design review', 'Redesign']);
    expect(matchRooms(rooms, 'rev').map((r) => r.name)).toEqual(['Design review']);
    expect(matchRooms(rooms, 'r').map((r) => r.name)).toEqual(['Redesign', 'Random', 'Design review']);
  });

  it('ignores case and accents, and gives every room for an empty query', () => {
    expect(matchRooms(rooms, 'CAFE').map((r) => r.name)).toEqual(['Team café']);
    expect(matchRooms(rooms, '  ')).toHaveLength(4);
    expect(matchRooms(rooms, 'zzz')).toEqual([]);
  });
});
