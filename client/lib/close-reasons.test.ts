import { CLOSE, PROTOCOL_VERSION } from '@confab/protocol';
import { describe, expect, it } from 'vitest';
import { defaultSyncUrl, explainClose, tryAgainDelayMs } from './sync-client';

describe('close reasons and the sync URL', () => {
  it('turns every terminal close reason into a sentence a user understands', () => {
    expect(explainClose(CLOSE.sessionRevoked.reason)).toMatch(/signed out/);
    expect(explainClose(CLOSE.membershipRevoked.reason)).toBe('You were removed from this room.');
    expect(explainClose(CLOSE.roomDeleted.reason)).toBe('This room was deleted by an owner.');
    expect(explainClose(CLOSE.upgradeRequired.reason)).toMatch(/Reload to update/);
    expect(explainClose(CLOSE.forbiddenUpdate.reason)).toMatch(/refused a change/);
  });

  it('explains try_again_later as a passing server condition, not a refusal', () => {
    expect(explainClose(CLOSE.tryAgainLater.reason)).toBe(
      'The server could not open or save this room just now; retrying. Your changes are kept here.',
    );
  });

  it('waits at most 1 s doubling to 30 s before trying a room again, and at least half of that', () => {
    expect([1, 2, 3, 5, 6, 7, 20].map((n) => tryAgainDelayMs(n, () => 1))).toEqual([
      1000, 2000, 4000, 16_000, 30_000, 30_000, 30_000,
    ]);
    expect([1, 2, 6].map((n) => tryAgainDelayMs(n, () => 0))).toEqual([500, 1000, 15_000]);
    expect(tryAgainDelayMs(3, () => 0.5)).toBe(3000);
  });

  it('connects to /sync of the page origin with the protocol version, over wss on https', () => {
    expect(defaultSyncUrl({ protocol: 'https:', host: 'chat.example.org' })).toBe(
      `wss://chat.example.org/sync?protocolVersion=${PROTOCOL_VERSION}`,
    );
    expect(defaultSyncUrl({ protocol: 'http:', host: 'localhost:3000' })).toBe(
      `ws://localhost:3000/sync?protocolVersion=${PROTOCOL_VERSION}`,
    );
  });
});
