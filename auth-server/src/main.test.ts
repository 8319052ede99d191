import { describe, expect, it } from 'vitest';
import { spawnMain } from './test-support/process';

describe('standalone start-up', () => {
  it('exits 1 with one line naming PORT when PORT is not a port', async () => {
    const run = spawnMain({ PORT: 'eighty', NATS_URL: 'nats://127.0.0.1:4222' });
    expect(await run.exited).toBe(1);
    const lines = run.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^auth-server: PORT: /);
  });

  it('exits 1 with one line naming NATS_URL when it is unset', async () => {
    const run = spawnMain({ PORT: '0' });
    expect(await run.exited).toBe(1);
    expect(run.stderr().trim()).toMatch(/^auth-server: NATS_URL: must be set[^\n]*$/);
  });

  it('exits 1 naming PUBLIC_URL when it is not an http(s) URL', async () => {
    const run = spawnMain({ NATS_URL: 'nats://127.0.0.1:4222', PUBLIC_URL: 'ftp://example.com' });
    expect(await run.exited).toBe(1);
    expect(run.stderr().trim()).toMatch(/^auth-server: PUBLIC_URL: [^\n]*$/);
  });
});
