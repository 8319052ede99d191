import { waitFor } from '@confab/platform/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pushTopic } from './adapters/push';
import { startTestNotifier, type TestNotifier } from './testing/harness';
import { type PushService, startPushService } from './testing/push-service';

let push: PushService;
beforeAll(async () => {
  push = await startPushService();
});
afterAll(async () => {
  await push.close();
});

let notifier: TestNotifier | undefined;
afterEach(async () => {
  await notifier?.close();
  notifier = undefined;
  push.received.length = 0;
  push.hits.clear();
});

async function setup(options: { env?: Record<string, string> } = {}) {
  notifier = await startTestNotifier({ pushAgent: push.agent, ...options });
  const ann = notifier.auth.addUser('ann', 'Ann');
  const bob = notifier.auth.addUser('bob', 'Bob');
  notifier.auth.addRoom('room1', 'General', ['ann', 'bob']);
  return { ann, bob };
}

async function subscribe(user: { token: string }, browserName: string) {
  const browser = push.browser(browserName);
  const res = await notifier!.api(user, '/api/push/subscriptions', {
    method: 'POST',
    body: JSON.stringify(browser.subscription),
  });
  expect(res.status).toBe(201);
  return browser;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Web Push to a local HTTPS push service', () => {
  it('sends an encrypted payload with a verified VAPID JWT, TTL, Urgency and a per-room Topic', async () => {
    const { bob } = await setup();
    const browser = await subscribe(bob, 'bob-laptop');
    const event = await notifier!.publishMessage({
      roomId: 'room1',
      authorId: 'ann',
      text: 'ping @bob',
      mentions: ['bob'],
    });
    await waitFor(() => push.received.length === 1);
    const [got] = push.received;
    expect(got?.browser).toBe(browser.name);
    expect(got?.payload).toEqual({
      title: 'Ann mentioned you in General',
      body: 'ping @bob',
      roomId: 'room1',
      messageId: event.messageId,
      url: 'https://chat.example.test/chat/room1',
    });
    expect(got?.contentEncoding).toBe('aes128gcm');
    expect(got?.urgency).toBe('high');
    expect(got?.topic).toBe(pushTopic('room1'));
    expect(got?.topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(Number(got?.ttl)).toBe(24 * 3600);
    expect(got?.vapidKey).toBe(notifier!.handle.vapidPublicKey);
    expect(got?.vapidClaims?.aud).toBe(push.origin);
    expect(got?.vapidClaims?.sub).toBe('mailto:notifications@chat.example.test');
    expect(got!.vapidClaims!.exp * 1000).toBeGreaterThan(Date.now());

    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'just chatting' });
    await waitFor(() => push.received.length === 2);
    expect(push.received[1]?.urgency).toBe('normal');
  });

  it('drops a subscription the push service answers 410 for, and stops sending to it', async () => {
    const { bob } = await setup();
    await subscribe(bob, 'bob-old-phone');
    push.answer('bob-old-phone', { status: 410 });
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'one' });
    await waitFor(() => push.hits.get('bob-old-phone') === 1);
    await waitFor(async () => {
      const counts = await notifier!.database.db
        .selectFrom('notifier_push_subscriptions')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      return Number(counts.n) === 0;
    });
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'two' });
    await waitFor(async () => {
      const res = await notifier!.api(bob, '/api/notifications');
      return ((await res.json()) as { items: unknown[] }).items.length === 2;
    });
    await notifier!.handle.dispatchNow();
    expect(push.hits.get('bob-old-phone')).toBe(1);
  });

  it('waits out a 429 for its Retry-After and retries a 5xx with backoff', async () => {
    const { bob } = await setup();
    await subscribe(bob, 'bob-busy');
    push.answer('bob-busy', { status: 429, headers: { 'retry-after': '120' } }, { status: 503 });
    const start = notifier!.clock.now;
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'eventually' });
    await waitFor(() => push.hits.get('bob-busy') === 1);
    // The run that got the 429 ends (and dates the Retry-After from `start`) before the clock moves.
    await notifier!.handle.dispatchNow();
    notifier!.clock.now = start + 119_000;
    await notifier!.handle.dispatchNow();
    await sleep(100);
    expect(push.hits.get('bob-busy')).toBe(1);
    notifier!.clock.now = start + 120_000;
    await waitFor(() => push.hits.get('bob-busy') === 2); // the 503
    await notifier!.handle.dispatchNow();
    expect(push.received).toHaveLength(0);
    notifier!.clock.now = start + 121_000; // first backoff: 1 s
    await waitFor(() => push.received.length === 1);
    expect(push.hits.get('bob-busy')).toBe(3);
  });

  it('holds a push back during quiet hours and sends it when they end; the in-app item is there at once', async () => {
    const { bob } = await setup();
    await subscribe(bob, 'bob-night');
    // The clock is 12:00 UTC; quiet 11:00–13:00 UTC.
    await notifier!.api(bob, '/api/notifications/preferences', {
      method: 'PUT',
      body: JSON.stringify({ quietHours: { start: '11:00', end: '13:00', timeZone: 'UTC' } }),
    });
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'shh' });
    await waitFor(async () => {
      const res = await notifier!.api(bob, '/api/notifications');
      return ((await res.json()) as { items: unknown[] }).items.length === 1;
    });
    notifier!.clock.now += 59 * 60_000;
    await notifier!.handle.dispatchNow();
    expect(push.received).toHaveLength(0);
    notifier!.clock.now += 60_000;
    await waitFor(() => push.received.length === 1);
    expect((push.received[0]!.payload as { body: string }).body).toBe('shh');
  });

  it('drops a held-back push when the user turns push off before quiet hours end', async () => {
    const { bob } = await setup();
    await subscribe(bob, 'bob-changed-mind');
    await notifier!.api(bob, '/api/notifications/preferences', {
      method: 'PUT',
      body: JSON.stringify({ quietHours: { start: '11:00', end: '13:00', timeZone: 'UTC' } }),
    });
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'held' });
    await waitFor(async () => {
      const res = await notifier!.api(bob, '/api/notifications');
      return ((await res.json()) as { items: unknown[] }).items.length === 1;
    });
    await notifier!.api(bob, '/api/notifications/preferences', { method: 'PUT', body: '{"push":false}' });
    notifier!.clock.now += 2 * 60 * 60_000;
    await notifier!.handle.dispatchNow();
    await notifier!.handle.dispatchNow();
    expect(push.hits.get('bob-changed-mind')).toBeUndefined();
  });

  it('sends no push to a user who is online in the room', async () => {
    const { bob } = await setup();
    await subscribe(bob, 'bob-online');
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'live', onlineUserIds: ['bob'] });
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'after', onlineUserIds: [] });
    await waitFor(() => push.received.length === 1);
    expect((push.received[0]!.payload as { body: string }).body).toBe('after');
  });

  it('refuses endpoints that are not https: or resolve to private addresses, naming the field', async () => {
    const lookups: Record<string, string[]> = {
      'push.public.example': ['93.184.216.34'],
      'sneaky.example': ['93.184.216.34', '10.1.2.3'],
      'mapped.example': ['::ffff:127.0.0.1'],
    };
    notifier = await startTestNotifier({
      env: { PUSH_ALLOW_PRIVATE_ENDPOINTS: '0' },
      extra: {
        lookup: async (host) =>
          (lookups[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      },
    });
    const bob = notifier.auth.addUser('bob');
    const keys = push.browser('validation').subscription.keys;
    const post = (endpoint: string) =>
      notifier!.api(bob, '/api/push/subscriptions', { method: 'POST', body: JSON.stringify({ endpoint, keys }) });
    for (const endpoint of [
      'http://push.public.example/x',
      'https://127.0.0.1/x',
      'https://[::1]/x',
      'https://sneaky.example/x',
      'https://mapped.example/x',
      'https://nowhere.example/x',
      'not a url',
    ]) {
      const res = await post(endpoint);
      expect(res.status, endpoint).toBe(422);
      expect(((await res.json()) as { error: { field: string } }).error.field).toBe('endpoint');
    }
    expect((await post('https://push.public.example/x')).status).toBe(201);
    const bad = await notifier.api(bob, '/api/push/subscriptions', {
      method: 'POST',
      body: JSON.stringify({ endpoint: 'https://push.public.example/y', keys: { p256dh: '!!', auth: 'x' } }),
    });
    expect(bad.status).toBe(422);
    const removed = await notifier.api(bob, '/api/push/subscriptions', {
      method: 'DELETE',
      body: JSON.stringify({ endpoint: 'https://push.public.example/x' }),
    });
    expect(removed.status).toBe(204);
  });
});
