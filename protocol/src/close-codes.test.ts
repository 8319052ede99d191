import { describe, expect, it } from 'vitest';
import { CLOSE, TERMINAL_CLOSE_REASONS } from './close-codes';

describe('the close events', () => {
  it('have one reason each, and codes a server may send (RFC 6455 registered or 4000-4999)', () => {
    const events = Object.values(CLOSE);
    expect(new Set(events.map((e) => e.reason)).size).toBe(events.length);
    for (const { code } of events) {
      expect(code === 1001 || code === 1009 || code === 1013 || (code >= 4000 && code <= 4999)).toBe(true);
    }
  });

  it('end one room for good when it was deleted (410 Gone)', () => {
    expect(CLOSE.roomDeleted).toEqual({ code: 4410, reason: 'room_deleted' });
    expect(TERMINAL_CLOSE_REASONS.has(CLOSE.roomDeleted.reason)).toBe(true);
  });

  it('say "try again later" with 1013, after which a client reconnects', () => {
    expect(CLOSE.tryAgainLater).toEqual({ code: 1013, reason: 'try_again_later' });
    expect(TERMINAL_CLOSE_REASONS.has(CLOSE.tryAgainLater.reason)).toBe(false);
  });
});
