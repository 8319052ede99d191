import { describe, expect, it } from 'vitest';
import { loadSecurityConfig } from './config';

describe('security config (read by proxy.ts)', () => {
  it('reads the public URL and a sync URL on another origin', () => {
    expect(
      loadSecurityConfig({ PUBLIC_URL: 'https://chat.example', NEXT_PUBLIC_SYNC_URL: 'wss://sync.example/sync' }),
    ).toEqual({
      PUBLIC_URL: 'https://chat.example',
      NEXT_PUBLIC_SYNC_URL: 'wss://sync.example/sync',
      NODE_ENV: 'production',
    });
    expect(loadSecurityConfig({ NEXT_PUBLIC_SYNC_URL: '' }).NEXT_PUBLIC_SYNC_URL).toBeUndefined();
  });

  it('names the variable when a value is wrong', () => {
    expect(() => loadSecurityConfig({ PUBLIC_URL: 'chat.example' })).toThrow(/^invalid PUBLIC_URL/);
    expect(() => loadSecurityConfig({ PUBLIC_URL: 'ftp://chat.example' })).toThrow(/^invalid PUBLIC_URL/);
    expect(() => loadSecurityConfig({ NEXT_PUBLIC_SYNC_URL: "https://x' 'unsafe-inline" })).toThrow(
      /^invalid NEXT_PUBLIC_SYNC_URL/,
    );
  });
});
