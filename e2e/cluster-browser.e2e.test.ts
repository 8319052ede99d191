import { createTestPostgres, needService, SERVICES, uniqueSuffix, waitFor } from '@confab/platform/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../scripts/cluster';
import { ensureFreshClientBuild } from './support/app';
import {
  createInvite,
  createRoom,
  joinFromInvite,
  launchBrowser,
  message,
  newUserContext,
  send,
  shot,
  shotOnFailure,
  signUp,
  waitForSynced,
} from './support/browser';

/**
 * The web app against the distributed topology: every request and the sync
 * WebSocket go through the gateway to separate processes, so cookies, the
 * Origin checks against PUBLIC_URL and the WebSocket upgrade are exercised the
 * way a deployment behind Traefik or an Ingress exercises them.
 */
const infra = (await needService('postgres')) && (await needService('nats')) && (await needService('redis'));

describe.skipIf(!infra)('the web app on the cluster', () => {
  const suffix = uniqueSuffix();
  const natsStream = `CONFAB_T_${suffix}`.toUpperCase();
  const redisPrefix = `confab_t_${suffix}`;
  let cluster: Cluster;
  let dropDatabase: (() => Promise<void>) | undefined;
  let browser: Browser;
  let aliceContext: BrowserContext;
  let bobContext: BrowserContext;
  let alice: Page;
  let bob: Page;

  beforeAll(async () => {
    ensureFreshClientBuild();
    const database = await createTestPostgres();
    dropDatabase = database.drop;
    cluster = await startCluster({
      port: 0,
      databaseUrl: database.url,
      natsUrl: SERVICES.nats.url,
      redisUrl: SERVICES.redis.url,
      natsStream,
      natsSubjectPrefix: `t${suffix}`,
      redisPrefix,
      client: true,
      env: { LOG_LEVEL: 'warn' },
    });
    browser = await launchBrowser();
    aliceContext = await newUserContext(browser, cluster.url);
    bobContext = await newUserContext(browser, cluster.url);
    alice = await aliceContext.newPage();
    bob = await bobContext.newPage();
  }, 600_000);

  afterEach(async (context) => {
    if (context.task.result?.state === 'fail') await shotOnFailure(`cluster ${context.task.name}`, { alice, bob });
  });

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
    await dropDatabase?.();
    const nc = await connect({ servers: SERVICES.nats.url });
    await (await jetstreamManager(nc)).streams.delete(natsStream).catch(() => false);
    await nc.close();
    const redis = new Redis(SERVICES.redis.url);
    const keys = await redis.keys(`${redisPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }, 60_000);

  it('has the web client process answer /healthz, /readyz and /metrics itself, as every service does', async () => {
    // The gateway sends every path outside /api and /sync to the client process (client/server.ts, Next.js).
    const health = await fetch(`${cluster.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${cluster.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', services: { client: true } });
    const metrics = await fetch(`${cluster.url}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await metrics.text()).toMatch(/^process_cpu_user_seconds_total \d/m);
  });

  it('signs up, invites and chats in real time with each browser on its own sync instance', async () => {
    await signUp(alice, 'Alice');
    const roomId = await createRoom(alice, 'Cluster room');
    await waitForSynced(alice);
    const invite = await createInvite(alice);
    // The invite link is built from PUBLIC_URL: the gateway's origin.
    expect(new URL(invite).origin).toBe(cluster.url);

    await bob.goto(new URL(invite).pathname);
    await bob.waitForURL(/\/login\?next=/);
    await bob.getByRole('link', { name: 'Create an account' }).click();
    await signUp(bob, 'Bob', new URL(invite).pathname);
    await joinFromInvite(bob);
    await bob.waitForURL(`**/chat/${roomId}`);
    await waitForSynced(bob);
    // One multiplexed WebSocket per browser, handed out in turn. The sign-up pages may have
    // used up an odd number of turns, so Bob reloads until his socket is on the other instance.
    const onBoth = () =>
      (cluster.gateway.openTunnels()['sync-1'] ?? 0) >= 1 && (cluster.gateway.openTunnels()['sync-2'] ?? 0) >= 1;
    for (let reload = 0; reload < 3 && !onBoth(); reload++) {
      await bob.reload();
      await waitForSynced(bob);
    }
    await waitFor(onBoth, { timeoutMs: 10_000, message: 'a browser on each sync instance' });

    await send(alice, 'Hello from behind the gateway');
    await message(bob, 'Hello from behind the gateway').waitFor();
    await send(bob, 'Received on the other instance');
    await message(alice, 'Received on the other instance').waitFor();
    await shot(alice, 'cluster-room');
  });
});
