import net from 'node:net';
import { waitFor } from '@confab/platform/testing';
import { newEventId, subjects } from '@confab/protocol';
import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWebPushSender, generateVapidKeys, type PushMessage } from './adapters/push';
import { unsubscribeToken } from './domain/unsubscribe';
import { readSse, startTestNotifier, type TestNotifier } from './testing/harness';

/**
 * The notifier as an attacker sees it: push endpoints that point back into
 * the network, names that try to become mail headers or HTML, other users'
 * notifications, forged unsubscribe links. See docs/security.md.
 */

let notifier: TestNotifier | undefined;
afterEach(async () => {
  await notifier?.close();
  notifier = undefined;
});

describe('push endpoints cannot reach private addresses when the message is sent', () => {
  // A plain TCP listener on loopback: any connection the sender opens to it counts, TLS or not.
  let listener: net.Server;
  let port: number;
  let connections = 0;
  beforeAll(async () => {
    listener = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    port = (listener.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  });

  const message = (endpoint: string): PushMessage => ({
    endpoint,
    // A real browser key pair's public half: web-push must be able to encrypt for it.
    keys: {
      p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
      auth: 'tBHItJI5svbpez7KI4CCXg',
    },
    payload: '{}',
    ttlSeconds: 60,
    urgency: 'normal',
    topic: 'topic',
  });

  it('refuses to connect to a host name that resolves to loopback now (DNS rebinding after the subscribe check)', async () => {
    const sender = createWebPushSender({
      vapid: { ...generateVapidKeys(), subject: 'mailto:ops@example.com' },
      allowPrivateEndpoints: false,
    });
    const outcome = await sender.send(message(`https://localhost:${port}/push/1`));
    expect(outcome.kind).not.toBe('sent');
    expect(connections).toBe(0);
  });

  it('refuses to connect to a private IP literal, which no DNS lookup would ever see', async () => {
    const sender = createWebPushSender({
      vapid: { ...generateVapidKeys(), subject: 'mailto:ops@example.com' },
      allowPrivateEndpoints: false,
    });
    for (const host of ['127.0.0.1', '[::ffff:127.0.0.1]', '2130706433', '0x7f.1']) {
      const outcome = await sender.send(message(`https://${host}:${port}/push/1`));
      expect([host, outcome.kind, connections]).toEqual([host, 'rejected', 0]);
    }
    expect(connections).toBe(0);
  });

  it('refuses subscriptions for private, loopback, unspecified and IPv4-mapped endpoints, in every spelling', async () => {
    notifier = await startTestNotifier({ env: { PUSH_ALLOW_PRIVATE_ENDPOINTS: '0' } });
    const ann = notifier.auth.addUser('ann', 'Ann');
    for (const endpoint of [
      'https://127.0.0.1/x',
      'https://2130706433/x',
      'https://0x7f000001/x',
      'https://0.0.0.0/x',
      'https://[::]/x',
      'https://[::1]/x',
      'https://[::ffff:127.0.0.1]/x',
      'https://[::ffff:a9fe:a9fe]/x',
      'https://[::127.0.0.1]/x',
      'https://[::ffff:0:7f00:1]/x',
      'https://169.254.169.254/latest/meta-data',
      'https://10.0.0.1/x',
      'https://[fd00::1]/x',
      'https://localhost/x',
      'http://push.example.com/x',
      'https://user:pass@push.example.com/x',
    ]) {
      const res = await notifier.api(ann, '/api/push/subscriptions', {
        method: 'POST',
        body: JSON.stringify({
          endpoint,
          keys: { p256dh: message('').keys.p256dh, auth: message('').keys.auth },
        }),
      });
      expect([endpoint, res.status]).toEqual([endpoint, 422]);
    }
  });
});

describe('names and text written by users', () => {
  it('cannot add mail headers through a room name, nor markup through a display name or message', async () => {
    notifier = await startTestNotifier();
    notifier.auth.addUser('ann', '<img src=x onerror=alert(1)>');
    const bob = notifier.auth.addUser('bob', 'Bob');
    notifier.auth.addRoom('room1', 'General\r\nBcc: evil@attacker.example\r\n\r\n<script>x</script>', ['ann', 'bob']);
    await notifier.publishMessage({ roomId: 'room1', authorId: 'ann', text: '<a href="javascript:alert(1)">hi</a>' });
    await waitFor(async () => {
      const res = await notifier!.api(bob, '/api/notifications');
      return ((await res.json()) as { items: unknown[] }).items.length === 1;
    });
    notifier.clock.now += 60 * 60_000;
    const fs = await import('node:fs');
    const path = await import('node:path');
    const mailDir = path.join(notifier.dataDir, 'mail');
    const eml = await waitFor(
      async () => {
        await notifier!.handle.dispatchNow();
        const files = fs.existsSync(mailDir) ? fs.readdirSync(mailDir).filter((f) => f.endsWith('.eml')) : [];
        return files.length > 0 ? fs.readFileSync(path.join(mailDir, files[0] as string), 'utf8') : null;
      },
      { message: 'the email file' },
    );
    const head = eml.slice(0, eml.indexOf('\n\n'));
    const headerNames = head
      .split('\n')
      .filter((line) => /^[A-Za-z-]+:/.test(line))
      .map((line) => line.slice(0, line.indexOf(':')).toLowerCase());
    expect(headerNames).not.toContain('bcc');
    expect(headerNames.filter((h) => h === 'to')).toHaveLength(1);
    expect(head).toMatch(/^To: bob@example\.test$/m);
    const mail = await simpleParser(eml);
    expect(mail.bcc).toBeUndefined();
    expect(mail.subject).toContain('General');
    const html = String(mail.html);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('<a href="javascript:');
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe('one user’s notifications are theirs alone', () => {
  it('neither lists, streams nor marks read another user’s notifications', async () => {
    notifier = await startTestNotifier();
    notifier.auth.addUser('ann', 'Ann');
    const bob = notifier.auth.addUser('bob', 'Bob');
    const eve = notifier.auth.addUser('eve', 'Eve');
    notifier.auth.addRoom('room1', 'General', ['ann', 'bob']);
    notifier.auth.addRoom('room2', 'Eve’s', ['eve', 'ann']);

    const aborter = new AbortController();
    const eveStream = await notifier.api(eve, '/api/notifications/stream', { signal: aborter.signal });
    const sse = readSse(eveStream);
    await notifier.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'for bob only' });
    await waitFor(async () => {
      const res = await notifier!.api(bob, '/api/notifications');
      return ((await res.json()) as { items: unknown[] }).items.length === 1;
    });
    const bobItems = ((await (await notifier.api(bob, '/api/notifications')).json()) as { items: { id: string }[] })
      .items;
    // A message in eve's own room afterwards: once it streams, the earlier one would have too.
    await notifier.publishMessage({ roomId: 'room2', authorId: 'ann', text: 'for eve' });
    await waitFor(() => sse.events.some((e) => e.event === 'notification'), { message: "eve's own notification" });
    expect(sse.events.filter((e) => e.event === 'notification').map((e) => JSON.parse(e.data).body)).toEqual([
      'for eve',
    ]);
    aborter.abort();
    await sse.done;

    const eveList = (await (await notifier.api(eve, '/api/notifications')).json()) as { items: { body: string }[] };
    expect(eveList.items.map((i) => i.body)).toEqual(['for eve']);
    const marked = await notifier.api(eve, '/api/notifications/read', {
      method: 'POST',
      body: JSON.stringify({ ids: bobItems.map((i) => i.id) }),
    });
    expect(marked.status).toBe(204);
    const after = (await (await notifier.api(bob, '/api/notifications')).json()) as { items: { readAt: unknown }[] };
    expect(after.items.map((i) => i.readAt)).toEqual([null]);
  });

  it('refuses an unsubscribe link made for one user and pointed at another, and a GET changes nothing', async () => {
    notifier = await startTestNotifier({ env: { UNSUBSCRIBE_SECRET: 'a-secret-of-enough-length' } });
    const ann = notifier.auth.addUser('ann', 'Ann');
    const bob = notifier.auth.addUser('bob', 'Bob');
    const annToken = unsubscribeToken('a-secret-of-enough-length', 'ann');
    const [, annMac] = annToken.split('.');
    const spliced = `${Buffer.from('bob').toString('base64url')}.${annMac}`;
    const otherSecret = unsubscribeToken('another-secret-entirely', 'bob');
    for (const token of [spliced, otherSecret, `${annToken}.x`, '', 'bob']) {
      const res = await notifier.api(null, `/api/notifications/unsubscribe?token=${encodeURIComponent(token)}`, {
        method: 'POST',
      });
      expect([token, res.status]).toEqual([token, 404]);
    }
    // A link scanner fetching the link does not unsubscribe.
    expect((await notifier.api(null, `/api/notifications/unsubscribe?token=${annToken}`)).status).toBe(200);
    const prefs = async (user: { token: string }) =>
      (await (await notifier!.api(user, '/api/notifications/preferences')).json()) as { email: boolean };
    expect((await prefs(ann)).email).toBe(true);
    expect((await prefs(bob)).email).toBe(true);
    // The real link turns email off for ann alone, and replaying it does no more than that.
    for (let i = 0; i < 2; i++) {
      const res = await notifier.api(null, `/api/notifications/unsubscribe?token=${annToken}`, { method: 'POST' });
      expect(res.status).toBe(200);
    }
    expect((await prefs(ann)).email).toBe(false);
    expect((await prefs(bob)).email).toBe(true);
  });

  it('forgets the push subscriptions made by a session once it is signed out, and keeps the others', async () => {
    notifier = await startTestNotifier();
    const ann = notifier.auth.addUser('ann', 'Ann');
    const laptop = notifier.auth.addSession('ann', 'session-ann-laptop');
    const subscribe = (user: { token: string }, endpoint: string) =>
      notifier!.api(user, '/api/push/subscriptions', {
        method: 'POST',
        body: JSON.stringify({
          endpoint,
          keys: {
            p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
            auth: 'tBHItJI5svbpez7KI4CCXg',
          },
        }),
      });
    expect((await subscribe(ann, 'https://push.example.com/phone')).status).toBe(201);
    expect((await subscribe(laptop, 'https://push.example.com/laptop')).status).toBe(201);
    const endpoints = async () =>
      (await notifier!.database.db.selectFrom('notifier_push_subscriptions').select('endpoint').execute())
        .map((r) => r.endpoint)
        .sort();
    expect(await endpoints()).toEqual(['https://push.example.com/laptop', 'https://push.example.com/phone']);
    // The laptop signs out: message previews must stop reaching a browser nobody is signed in to.
    await notifier.publish(subjects.sessionRevoked, {
      id: newEventId(),
      sessionId: 'session-ann-laptop',
      userId: 'ann',
    });
    await waitFor(async () => (await endpoints()).length === 1, { message: "the laptop's subscription to go" });
    expect(await endpoints()).toEqual(['https://push.example.com/phone']);
  });

  it('needs a session for the SSE stream and refuses cookie writes from a foreign origin', async () => {
    notifier = await startTestNotifier();
    const ann = notifier.auth.addUser('ann', 'Ann');
    expect((await notifier.api(null, '/api/notifications/stream')).status).toBe(401);
    const cookieWrite = await notifier.api(null, '/api/push/subscriptions', {
      method: 'DELETE',
      headers: { cookie: `confab_session=${ann.token}`, origin: 'https://evil.example' },
      body: JSON.stringify({ endpoint: 'https://push.example.com/x' }),
    });
    expect(cookieWrite.status).toBe(403);
    const noOrigin = await notifier.api(null, '/api/notifications/read', {
      method: 'POST',
      headers: { cookie: `confab_session=${ann.token}` },
      body: JSON.stringify({ all: true }),
    });
    expect(noOrigin.status).toBe(403);
    const res = await notifier.api(ann, '/api/notifications');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });
});
