import { CLOSE, PROTOCOL_VERSION } from '@confab/protocol';
import { describe, expect, it } from 'vitest';
import { defaultSyncUrl, explainClose } from './sync-client';

describe('close reasons and the sync URL', () => {
  it('turns every terminal close reason into a sentence a user understands', () => {
    expect(explainClose(CLOSE.sessionRevoked.reason)).toMatch(/signed out/);
    expect(explainClose(CLOSE.membershipRevoked.reason)).toBe('You were removed from this room.');
    expect(explainClose(CLOSE.upgradeRequired.reason)).toMatch(/Reload to update/);
    expect(explainClose(CLOSE.forbiddenUpdate.reason)).toMatch(/refused a change/);
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
