import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT, type ServiceProcess, spawnService, waitUntilReady } from '../scripts/cluster/process';

/**
 * How the cluster learns where a service listens. It used to pick a "free"
 * port and hand it over; another process could take it first, the service
 * died with EADDRINUSE, and the stranger's 200 on /readyz passed for it
 * (one CI run lost a sync instance that way). Now the service takes a port
 * itself and reports it over IPC, and only that port is probed.
 */

const FIXTURE = path.join(REPO_ROOT, 'e2e', 'support', 'listening-fixture.ts');

describe('starting a service process', () => {
  const started: ServiceProcess[] = [];
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const service of started.splice(0)) await service.stop();
    for (const close of closers.splice(0)) await close();
  });

  const spawnFixture = (port: number) => {
    const service = spawnService({
      name: 'fixture',
      workspace: 'e2e',
      port,
      command: { file: process.execPath, args: ['--import', 'tsx', FIXTURE] },
      env: {},
    });
    started.push(service);
    return service;
  };

  it('learns the port a service took for itself and probes readiness there', async () => {
    const service = spawnFixture(0);
    const port = await waitUntilReady(service, 30_000);
    expect(port).toBeGreaterThan(0);
    expect(service.port).toBe(port);
    const answer = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(await answer.text()).toBe('fixture');
  });

  it('fails, with the service’s own words, when its port is taken, instead of taking the stranger there for it', async () => {
    let probesOfStranger = 0;
    const stranger = http.createServer((_req, res) => {
      probesOfStranger += 1;
      res.writeHead(200).end('stranger');
    });
    await new Promise<void>((resolve) => stranger.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => stranger.close(() => resolve())));
    const taken = (stranger.address() as AddressInfo).port;

    const service = spawnFixture(taken);
    await expect(waitUntilReady(service, 30_000)).rejects.toThrow(
      /exited with code 1 before it was ready[\s\S]*EADDRINUSE/,
    );
    expect(probesOfStranger).toBe(0);
    expect(() => service.port).toThrow(/has not reported its port/);
  });
});
