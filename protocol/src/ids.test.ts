import { describe, expect, it } from 'vitest';
import { parseDocumentName, roomDocument } from './documents';
import { isId, parseRoomId, uuidv7 } from './ids';

describe('ids', () => {
  it('makes UUIDv7 ids that sort by creation time', () => {
    const a = uuidv7(1_000);
    const b = uuidv7(2_000);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a < b).toBe(true);
    expect(uuidv7(5)).not.toBe(uuidv7(5));
  });

  it('writes the milliseconds big-endian in the first 48 bits', () => {
    expect(uuidv7(0x0123_4567_89ab).slice(0, 13)).toBe('01234567-89ab');
    expect(uuidv7(1_700_000_000_000.9).slice(0, 13)).toBe('018bcfe5-6800');
    // Outside 48 bits the time wraps around, and the id keeps its form.
    expect(uuidv7(-1).slice(0, 13)).toBe('ffffffff-ffff');
    expect(uuidv7(2 ** 48 + 5).slice(0, 13)).toBe('00000000-0005');
  });

  it('never repeats random bits across the random pool’s refills: 20,000 ids in one millisecond are distinct', () => {
    const ids = Array.from({ length: 20_000 }, () => uuidv7(7));
    expect(new Set(ids).size).toBe(ids.length);
    // 74 random bits each: the same tail twice would mean the pool handed out the same bytes again.
    expect(new Set(ids.map((id) => id.slice(14))).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^00000000-0007-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('refuses ids with characters outside the URL-safe set', () => {
    expect(isId('room_1-A')).toBe(true);
    expect(isId('a'.repeat(65))).toBe(false);
    expect(isId('a/b')).toBe(false);
    expect(() => parseRoomId('x y')).toThrow(/invalid room id/);
  });
});

describe('document names', () => {
  it('parses room and user documents and nothing else', () => {
    expect(parseDocumentName(roomDocument(parseRoomId('r1')))).toEqual({ kind: 'room', roomId: 'r1' });
    expect(parseDocumentName('user:u1')).toEqual({ kind: 'user', userId: 'u1' });
    expect(parseDocumentName('room:')).toBeNull();
    expect(parseDocumentName('space:r1')).toBeNull();
    expect(parseDocumentName('room:r1:extra')).toBeNull();
    expect(parseDocumentName(42)).toBeNull();
  });
});
