import { createTestPostgres, needService, SERVICES, uniqueSuffix, waitFor } from '@confab/platform/testing';
import {
  appendMessage,
  type MessageId,
  newMessageId,
  PROTOCOL_VERSION,
  readMessages,
  type UserId,
} from '@confab/protocol';
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { type Cluster, startCluster } from '../scripts/cluster';

/**
 * The distributed topology end to end: auth-server, two sync-server instances
 * behind the gateway's round-robin, the notifier, on real PostgreSQL, NATS
 * JetStream and Redis, driven the way a third-party client would (HTTP API +
 * @hocuspocus/provider). The services run from the bundles the container
 * images run (scripts/bundle.ts: third-party JavaScript inside, plain Node).
 */

const infra = (await needService('postgres')) && (await needService('nats')) && (await needService('redis'));

interface Account {
  readonly id: UserId;
  readonly token: string;
  readonly displayName: string;
}

describe.skipIf(!infra)('the cluster (auth, 2 sync instances, notifier behind one gateway)', () => {
  const suffix = uniqueSuffix();
  const natsStream = `CONFAB_T_${suffix}`.toUpperCase();
  const natsSubjectPrefix = `t${suffix}`;
  const redisPrefix = `confab_t_${suffix}`;
  const providers: HocuspocusProvider[] = [];
  const sockets: HocuspocusProviderWebsocket[] = [];
  const closeDevices = () => {
    for (const provider of providers.splice(0)) provider.destroy();
    for (const socket of sockets.splice(0)) socket.destroy();
  };
  let cluster: Cluster;
  let dropDatabase: () => Promise<void>;
  let alice: Account;
  let bob: Account;
  let roomId: string;

  async function api<T>(path: string, init: { method?: string; token?: string; body?: unknown } = {}): Promise<T> {
    const answer = await fetch(`http://127.0.0.1:${cluster.gateway.port}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: {
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      },
      body: init.body === undefined ? null : JSON.stringify(init.body),
    });
    const text = await answer.text();
    if (!answer.ok) throw new Error(`${init.method ?? 'GET'} ${path} answered ${answer.status}: ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async function register(name: string): Promise<Account> {
    const { user, token } = await api<{ user: { id: UserId; displayName: string }; token: string }>(
      '/api/auth/register',
      { body: { email: `${name}-${suffix}@example.test`, password: `correct horse ${suffix}`, displayName: name } },
    );
    return { id: user.id, token, displayName: user.displayName };
  }

  /** A device of `account` on the room, with its own WebSocket through the gateway, like a browser tab. */
  function device(account: Account, document = new Y.Doc()): HocuspocusProvider {
    const socket = new HocuspocusProviderWebsocket({
      url: `ws://127.0.0.1:${cluster.gateway.port}/sync?protocolVersion=${PROTOCOL_VERSION}`,
      WebSocketPolyfill: WebSocket,
      // Reconnect quickly after an instance is killed; the default backoff would only slow the test down.
      delay: 100,
      minDelay: 100,
      maxDelay: 500,
    });
    const provider = new HocuspocusProvider({
      websocketProvider: socket,
      name: `room:${roomId}`,
      document,
      // A fresh token on every (re)connect, as the web app does.
      token: async () =>
        (
          await api<{ token: string }>('/api/auth/sync-token', {
            token: account.token,
            body: { document: `room:${roomId}` },
          })
        ).token,
    });
    provider.attach();
    providers.push(provider);
    sockets.push(socket);
    return provider;
  }

  function say(provider: HocuspocusProvider, author: Account, text: string, mentions?: UserId[]): MessageId {
    const id = newMessageId();
    appendMessage(provider.document, { id, author: author.id, text, createdAt: Date.now(), mentions });
    return id;
  }

  const texts = (provider: HocuspocusProvider) => readMessages(provider.document).map((m) => m.text);
  const acknowledged = (provider: HocuspocusProvider) => provider.isSynced && provider.unsyncedChanges === 0;

  beforeAll(async () => {
    const database = await createTestPostgres();
    dropDatabase = database.drop;
    cluster = await startCluster({
      port: 0,
      databaseUrl: database.url,
      natsUrl: SERVICES.nats.url,
      redisUrl: SERVICES.redis.url,
      natsStream,
      natsSubjectPrefix,
      redisPrefix,
      client: false,
      // What the images run: each service from its bundle, with plain Node.
      bundled: true,
      env: { LOG_LEVEL: 'warn' },
    });
    alice = await register('alice');
    bob = await register('bob');
    ({
      room: { id: roomId },
    } = await api<{ room: { id: string } }>('/api/rooms', { token: alice.token, body: { name: 'cluster room' } }));
    const { code } = await api<{ code: string }>(`/api/rooms/${roomId}/invites`, { token: alice.token, body: {} });
    await api(`/api/invites/${code}/accept`, { token: bob.token, method: 'POST' });
  }, 240_000);

  afterEach(({ task }) => {
    if (task.result?.state !== 'fail' || !cluster) return;
    // What each service said last: a failure here is often one process that died or refused, not the test's logic.
    for (const service of ['auth', 'sync-1', 'sync-2', 'notifier']) {
      console.error(`--- ${service} (last lines)\n${cluster.logs(service) || '(nothing)'}`);
    }
  });

  afterAll(async () => {
    closeDevices();
    await cluster?.stop();
    await dropDatabase?.();
    const nc = await connect({ servers: SERVICES.nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(natsStream).catch(() => false);
    } finally {
      await nc.close();
    }
    const redis = new Redis(SERVICES.redis.url);
    const keys = await redis.keys(`${redisPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }, 60_000);

  let aliceDevice: HocuspocusProvider;
  let bobDevice: HocuspocusProvider;

  it('puts two users on different sync instances and their messages converge both ways', async () => {
    aliceDevice = device(alice);
    await waitFor(() => aliceDevice.isSynced, { timeoutMs: 20_000, message: 'alice synced' });
    bobDevice = device(bob);
    await waitFor(() => bobDevice.isSynced, { timeoutMs: 20_000, message: 'bob synced' });
    expect(cluster.gateway.openTunnels()).toEqual({ 'sync-1': 1, 'sync-2': 1 });

    say(aliceDevice, alice, 'hello from sync-1');
    await waitFor(() => texts(bobDevice).includes('hello from sync-1'), {
      timeoutMs: 10_000,
      message: 'bob sees alice',
    });
    say(bobDevice, bob, 'hello back from sync-2');
    await waitFor(() => texts(aliceDevice).includes('hello back from sync-2'), {
      timeoutMs: 10_000,
      message: 'alice sees bob',
    });
    expect(texts(aliceDevice)).toEqual(texts(bobDevice));
  });

  it('delivers a mention to the in-app feed of the user mentioned, live through the gateway', async () => {
    // The live feed (Server-Sent Events) crosses the gateway too: it must arrive as it happens, not buffered.
    const live = new AbortController();
    const stream = await fetch(`http://127.0.0.1:${cluster.gateway.port}/api/notifications/stream`, {
      headers: { authorization: `Bearer ${alice.token}`, accept: 'text/event-stream' },
      signal: live.signal,
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    let received = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of stream.body as AsyncIterable<Uint8Array>)
          received += decoder.decode(chunk, { stream: true });
      } catch {
        // aborted below
      }
    })();

    const messageId = say(bobDevice, bob, `@alice look at this (${suffix})`, [alice.id]);
    await waitFor(() => received.includes(messageId), { timeoutMs: 30_000, message: 'the mention on the live feed' });
    expect(received).toMatch(/event: notification/);
    live.abort();
    await reading;

    const item = await waitFor(
      async () => {
        const { items } = await api<{ items: Array<{ messageId: string; kind: string; roomId: string }> }>(
          '/api/notifications',
          { token: alice.token },
        );
        return items.find((i) => i.messageId === messageId);
      },
      { timeoutMs: 30_000, intervalMs: 250, message: "the mention in alice's feed" },
    );
    expect(item).toMatchObject({ roomId, kind: 'mention' });
    const bobFeed = await api<{ items: Array<{ messageId: string }> }>('/api/notifications', { token: bob.token });
    expect(bobFeed.items.map((i) => i.messageId)).not.toContain(messageId);
  });

  it('moves the clients of a killed instance to the other one and loses nothing it acknowledged', async () => {
    const before = cluster.gateway.openTunnels();
    const victim = before['sync-1'] === 1 ? 0 : 1;
    const burst = Array.from({ length: 20 }, (_, i) => `acknowledged ${i}`);
    for (const text of burst) say(aliceDevice, alice, text);
    await waitFor(() => acknowledged(aliceDevice), { timeoutMs: 10_000, message: 'the burst acknowledged' });

    await cluster.killSync(victim);

    const survivor = `sync-${2 - victim}`;
    await waitFor(() => cluster.gateway.openTunnels()[survivor] === 2 && aliceDevice.isSynced, {
      timeoutMs: 20_000,
      message: `both devices on ${survivor}`,
    });
    say(aliceDevice, alice, 'after the failover');
    await waitFor(() => texts(bobDevice).includes('after the failover'), {
      timeoutMs: 10_000,
      message: 'bob sees the message sent after failover',
    });
    await waitFor(() => acknowledged(aliceDevice) && acknowledged(bobDevice), { timeoutMs: 10_000 });
    for (const text of burst) expect(texts(bobDevice)).toContain(text);

    // Now prove it is in storage, not only in the survivors' memory: every device
    // goes away, the survivor is killed too, and a fresh device loads the room
    // from an instance that starts from the database alone.
    const expected = texts(aliceDevice);
    closeDevices();
    await cluster.killSync(1 - victim);
    await cluster.restartSync(victim);
    const fresh = device(bob);
    await waitFor(() => fresh.isSynced, { timeoutMs: 20_000, message: 'a fresh device synced' });
    await waitFor(() => texts(fresh).length >= expected.length, { timeoutMs: 10_000, message: 'history loaded' });
    expect(texts(fresh)).toEqual(expected);
  });
});
