import { describe, expect, it } from 'vitest';
import { loadSyncConfig, requireStandalone, SyncConfigError } from './config';

describe('sync server configuration', () => {
  it('has working defaults for everything but the standalone requirements', () => {
    const config = loadSyncConfig({});
    expect(config).toMatchObject({
      port: 4100,
      dataDir: './data',
      publicOrigin: 'http://localhost:3000',
      redisPrefix: 'confab-sync',
      compactMinBytes: 256 * 1024,
      updateRatePerConnection: { perSecond: 20, burst: 100 },
      updateRatePerUser: { perSecond: 50, burst: 300 },
    });
    expect(config.instanceId).toMatch(/^[A-Za-z0-9_-]+-4100$/);
    expect(() => requireStandalone(config)).toThrow('NATS_URL: required when sync-server runs alone');
    expect(() => requireStandalone({ ...config, natsUrl: 'nats://x:4222' })).toThrow(
      'AUTH_URL: required when sync-server runs alone',
    );
  });

  it('refuses a bad value with one line naming the variable', () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ PORT: 'seventy' }, 'PORT:'],
      [{ PORT: '70000' }, 'PORT:'],
      [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL: must be a URL starting with postgres: or postgresql:'],
      [{ REDIS_URL: 'http://x' }, 'REDIS_URL:'],
      [{ PUBLIC_URL: 'not a url' }, 'PUBLIC_URL: must be an http(s) URL'],
      [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL:'],
      [{ SYNC_MAX_UPDATES_PER_SECOND: '0' }, 'SYNC_MAX_UPDATES_PER_SECOND:'],
      [{ SYNC_UPDATE_BURST: 'lots' }, 'SYNC_UPDATE_BURST:'],
    ];
    for (const [env, start] of cases) {
      let error: unknown;
      try {
        loadSyncConfig(env);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SyncConfigError);
      expect((error as Error).message.startsWith(start)).toBe(true);
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('treats an empty value as unset and keeps instance ids safe for consumer names', () => {
    expect(loadSyncConfig({ PORT: '' }).port).toBe(4100);
    expect(loadSyncConfig({ SYNC_INSTANCE_ID: 'pod/a.b c' }).instanceId).toBe('pod_a_b_c');
    expect(loadSyncConfig({ PUBLIC_URL: 'https://chat.example.org/app/' }).publicOrigin).toBe(
      'https://chat.example.org',
    );
  });
});
