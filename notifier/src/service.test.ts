import { waitFor } from '@confab/platform/testing';
import { subjects } from '@confab/protocol';
import type { Kysely } from 'kysely';
import { type KyselyPlugin, OperationNodeTransformer } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { NotifierTables } from './adapters/schema';
import { loadNotifierConfig } from './config';
import { startNotifier } from './service';
import { readSse, silentLogger, startTestNotifier, type TestNotifier } from './testing/harness';

let notifier: TestNotifier | undefined;
afterEach(async () => {
  await notifier?.close();
  notifier = undefined;
});

async function roomWith(memberIds: string[], roomId = 'room1', name = 'General') {
  notifier = notifier ?? (await startTestNotifier());
  const users = memberIds.map((id) => notifier!.auth.addUser(id, id.toUpperCase()));
  notifier.auth.addRoom(roomId, name, memberIds);
  return users;
}

async function itemsOf(user: { token: string }) {
  const res = await notifier!.api(user, '/api/notifications');
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: { kind: string; title: string; body: string; id: string }[] }).items;
}

describe('notifier service (SQLite, in-process bus)', () => {
  it('stores an in-app notification for every member but the author, titled by kind', async () => {
    const [ann, bob, cy] = await roomWith(['ann', 'bob', 'cy']);
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'hi @bob', mentions: ['bob'] });
    await waitFor(async () => (await itemsOf(cy!)).length === 1);
    expect((await itemsOf(bob!)).map((i) => [i.kind, i.title, i.body])).toEqual([
      ['mention', 'ANN mentioned you in General', 'hi @bob'],
    ]);
    expect((await itemsOf(cy!))[0]?.kind).toBe('message');
    expect(await itemsOf(ann!)).toEqual([]);
  });

  it('words a notification as the message reads, without its formatting marks, and so its edit', async () => {
    const [, bob] = await roomWith(['ann', 'bob']);
    const sent = await notifier!.publishMessage({
      roomId: 'room1',
      authorId: 'ann',
      text: '**Deploy** is `done`, see https://example.org/run/7 for _details_',
    });
    await waitFor(async () => (await itemsOf(bob!)).length === 1);
    expect((await itemsOf(bob!))[0]?.body).toBe('Deploy is done, see https://example.org/run/7 for details');
    await notifier!.publish(subjects.messageEdited('room1'), {
      id: 'edit-plain',
      roomId: 'room1',
      messageId: sent.messageId,
      authorId: 'ann',
      text: 'Deploy is *rolled back*',
      editedAt: notifier!.clock.now,
    });
    await waitFor(async () => (await itemsOf(bob!))[0]?.body === 'Deploy is rolled back', {
      message: 'the edit, without marks',
    });
  });

  it('knows whom a reply is for from the messages it has seen', async () => {
    const [ann, bob] = await roomWith(['ann', 'bob']);
    const original = await notifier!.publishMessage({ roomId: 'room1', authorId: 'bob', text: 'question' });
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'answer', replyTo: original.messageId });
    await waitFor(async () => (await itemsOf(bob!)).length === 1);
    expect((await itemsOf(bob!))[0]).toMatchObject({ kind: 'reply', title: 'ANN replied to you in General' });
    expect((await itemsOf(ann!))[0]?.kind).toBe('message');
  });

  it('pages newest first and marks notifications read by id or all at once', async () => {
    const [ann, bob] = await roomWith(['ann', 'bob']);
    for (let n = 0; n < 55; n++) await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: `m${n}` });
    // All 55 handled: the newest is on the first page (50 items are there as soon as the 50th lands).
    await waitFor(async () => (await notifier!.handle.ready()) && (await itemsOf(bob!))[0]?.body === 'm54');
    const page1 = (await (await notifier!.api(bob!, '/api/notifications')).json()) as {
      items: { id: string; body: string; readAt: number | null }[];
      nextCursor: string;
    };
    await waitFor(async () => {
      const res = await notifier!.api(bob!, `/api/notifications?cursor=${page1.nextCursor}`);
      return ((await res.json()) as { items: unknown[] }).items.length === 5;
    });
    const page2 = (await (await notifier!.api(bob!, `/api/notifications?cursor=${page1.nextCursor}`)).json()) as {
      items: { body: string }[];
      nextCursor: string | null;
    };
    expect(page1.items[0]?.body).toBe('m54');
    expect(page2.items.map((i) => i.body)).toEqual(['m4', 'm3', 'm2', 'm1', 'm0']);
    expect(page2.nextCursor).toBeNull();

    const read = await notifier!.api(bob!, '/api/notifications/read', {
      method: 'POST',
      body: JSON.stringify({ ids: [page1.items[0]?.id] }),
    });
    expect(read.status).toBe(204);
    const after = (await (await notifier!.api(bob!, '/api/notifications')).json()) as {
      items: { readAt: number | null }[];
    };
    expect(after.items[0]?.readAt).toBe(notifier!.clock.now);
    expect(after.items[1]?.readAt).toBeNull();
    await notifier!.api(bob!, '/api/notifications/read', { method: 'POST', body: '{"all":true}' });
    const all = (await (await notifier!.api(bob!, '/api/notifications')).json()) as { items: { readAt: unknown }[] };
    expect(all.items.every((i) => i.readAt !== null)).toBe(true);
    // ann's own message never notified ann.
    expect(await itemsOf(ann!)).toEqual([]);
  });

  it('answers 401 without a valid session and 403 to a cookie request from a foreign origin', async () => {
    const [, bob] = await roomWith(['ann', 'bob']);
    expect((await notifier!.api(null, '/api/notifications')).status).toBe(401);
    const forged = await notifier!.api({ token: 'forged' }, '/api/notifications');
    expect(forged.status).toBe(401);
    expect(await forged.json()).toEqual({ error: { code: 'unauthenticated', message: expect.any(String) } });
    const cookie = `confab_session=${bob!.token}`;
    const foreign = await notifier!.api(null, '/api/notifications/read', {
      method: 'POST',
      headers: { cookie, origin: 'https://evil.example' },
      body: '{"all":true}',
    });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe('bad_origin');
    const same = await notifier!.api(null, '/api/notifications/read', {
      method: 'POST',
      headers: { cookie, origin: 'https://chat.example.test' },
      body: '{"all":true}',
    });
    expect(same.status).toBe(204);
    expect((await notifier!.api(null, '/api/notifications', { headers: { cookie } })).status).toBe(200);
  });

  it('refuses bad preferences with 422 naming the field, and keeps the stored ones', async () => {
    const [, bob] = await roomWith(['ann', 'bob']);
    await roomWith(['ann'], 'secret-room', 'Secret');
    const put = (body: string) => notifier!.api(bob!, '/api/notifications/preferences', { method: 'PUT', body });
    const ok = await put(JSON.stringify({ default: 'mentions', rooms: { room1: 'all' } }));
    expect(ok.status).toBe(200);
    const cases: [unknown, string][] = [
      [{ rooms: { 'secret-room': 'none' } }, 'rooms.secret-room'],
      [{ rooms: { 'no-such-room': 'none' } }, 'rooms.no-such-room'],
      [{ quietHours: { start: '22:00', end: '24:30', timeZone: 'UTC' } }, 'quietHours.end'],
      [{ quietHours: { start: '22:00', end: '06:00', timeZone: 'Europe/Atlantis' } }, 'quietHours.timeZone'],
      [{ default: 'sometimes' }, 'default'],
      [{ emailDelayMinutes: 'soon' }, 'emailDelayMinutes'],
    ];
    for (const [body, field] of cases) {
      const res = await put(JSON.stringify(body));
      expect(res.status, JSON.stringify(body)).toBe(422);
      const error = ((await res.json()) as { error: { code: string; message: string; field: string } }).error;
      expect(error.code).toBe('invalid_field');
      expect(error.field).toBe(field);
      expect(error.message).toContain(field);
    }
    expect((await put('{"default": ')).status).toBe(400);
    expect((await put(JSON.stringify({ rooms: { x: 'a'.repeat(70 * 1024) } }))).status).toBe(413);
    const stored = await (await notifier!.api(bob!, '/api/notifications/preferences')).json();
    expect(stored).toEqual({
      default: 'mentions',
      rooms: { room1: 'all' },
      push: true,
      email: true,
      emailDelayMinutes: 10,
      quietHours: null,
    });
    // A room set to null follows the default again; its entry goes.
    const back = await put(JSON.stringify({ rooms: { room1: null } }));
    expect(back.status).toBe(200);
    expect(((await back.json()) as { rooms: Record<string, string> }).rooms).toEqual({});
  });

  it('follows preferences: a room set to none and a mentions-only default', async () => {
    const [, bob, cy] = await roomWith(['ann', 'bob', 'cy']);
    await notifier!.api(bob!, '/api/notifications/preferences', {
      method: 'PUT',
      body: JSON.stringify({ rooms: { room1: 'none' } }),
    });
    await notifier!.api(cy!, '/api/notifications/preferences', {
      method: 'PUT',
      body: JSON.stringify({ default: 'mentions' }),
    });
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'plain' });
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: '@bob @cy', mentions: ['bob', 'cy'] });
    await waitFor(async () => (await itemsOf(cy!)).length === 1);
    expect((await itemsOf(cy!)).map((i) => i.body)).toEqual(['@bob @cy']);
    expect(await itemsOf(bob!)).toEqual([]);
  });

  it('stops notifying a removed member at once, although the room was cached', async () => {
    const [, bob] = await roomWith(['ann', 'bob']);
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'one' });
    await waitFor(async () => (await itemsOf(bob!)).length === 1);
    notifier!.auth.setMember('room1', 'bob', null);
    await notifier!.publish(subjects.membershipChanged, { id: 'mc-1', roomId: 'room1', userId: 'bob', role: null });
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'two' });
    const marker = await notifier!.publishMessage({ roomId: 'room1', authorId: 'bob', text: 'marker' });
    await waitFor(
      async () => (await notifier!.auth.user('ann')) && (await itemsOf({ token: 'token-ann' })).length === 1,
    );
    expect(marker.authorId).toBe('bob');
    expect((await itemsOf(bob!)).map((i) => i.body)).toEqual(['one']);
  });

  it('streams each new notification over SSE and resumes after Last-Event-ID', async () => {
    const [, bob] = await roomWith(['ann', 'bob']);
    const controller = new AbortController();
    const res = await notifier!.api(bob!, '/api/notifications/stream', { signal: controller.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const stream = readSse(res);
    await waitFor(() => stream.events.some((e) => e.event === 'ready'));
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'first' });
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'second' });
    await waitFor(() => stream.events.filter((e) => e.event === 'notification').length === 2);
    const received = stream.events.filter((e) => e.event === 'notification');
    expect(received.map((e) => JSON.parse(e.data).body)).toEqual(['first', 'second']);
    expect(received[0]?.id).toBe(JSON.parse(received[0]!.data).id);
    await waitFor(() => stream.comments.includes('heartbeat'), { message: 'a heartbeat' });
    controller.abort();

    // Offline for a while: two more arrive; the reconnect names the last one it saw.
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'third' });
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'fourth' });
    await waitFor(async () => (await itemsOf(bob!)).length === 4);
    const again = new AbortController();
    const resumed = readSse(
      await notifier!.api(bob!, '/api/notifications/stream', {
        signal: again.signal,
        headers: { 'last-event-id': received[1]!.id! },
      }),
    );
    await waitFor(() => resumed.events.filter((e) => e.event === 'notification').length === 2);
    expect(resumed.events.filter((e) => e.event === 'notification').map((e) => JSON.parse(e.data).body)).toEqual([
      'third',
      'fourth',
    ]);
    again.abort();
  });

  it('tells an open stream which notifications were read elsewhere: up to a room’s read marker, then from another tab', async () => {
    // Heartbeats a minute apart: the stream then looks at the database every 5 s unless woken.
    notifier = await startTestNotifier({ extra: { heartbeatMs: 60_000 } });
    const [, bob] = await roomWith(['ann', 'bob']);
    const before = await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'before the stream' });
    await waitFor(async () => (await itemsOf(bob!)).length === 1);
    const controller = new AbortController();
    const stream = readSse(await notifier!.api(bob!, '/api/notifications/stream', { signal: controller.signal }));
    await waitFor(() => stream.events.some((e) => e.event === 'ready'));
    notifier!.clock.now += 1000;
    const second = await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'second' });
    notifier!.clock.now += 1000;
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'third' });
    await waitFor(() => stream.events.filter((e) => e.event === 'notification').length === 2);
    const idOf = async (body: string) => (await itemsOf(bob!)).find((i) => i.body === body)!.id;
    const readIds = () =>
      stream.events.filter((e) => e.event === 'read').flatMap((e) => (JSON.parse(e.data) as { ids: string[] }).ids);

    // Bob reads the room up to "second" in the app: the one listed before the stream opened and the
    // one it streamed are read; "third" is not. The stream is woken, well before its 5 s poll.
    await notifier!.publish(subjects.read('room1'), {
      id: 'read-up-to-second',
      roomId: 'room1',
      userId: 'bob',
      messageId: second.messageId,
      at: notifier!.clock.now,
    });
    await waitFor(() => readIds().length === 2, { timeoutMs: 4000, message: 'a read event for two items' });
    expect(readIds()).toEqual([await idOf(before.text), await idOf('second')]);
    expect(stream.events.filter((e) => e.event === 'read').every((e) => e.id === undefined)).toBe(true);

    // Another tab marks everything read: this stream hears of "third", and of nothing twice.
    const marked = await notifier!.api(bob!, '/api/notifications/read', { method: 'POST', body: '{"all":true}' });
    expect(marked.status).toBe(204);
    await waitFor(() => readIds().length === 3, { timeoutMs: 4000, message: 'a read event for the third' });
    expect(readIds()).toEqual([await idOf(before.text), await idOf('second'), await idOf('third')]);
    controller.abort();
  });

  it('closes a signed-out session’s stream when its revocation arrives', async () => {
    const [, bob] = await roomWith(['ann', 'bob']);
    const stream = readSse(await notifier!.api(bob!, '/api/notifications/stream'));
    await waitFor(() => stream.events.some((e) => e.event === 'ready'));
    await notifier!.publish(subjects.sessionRevoked, { id: 'sr-1', sessionId: 'session-bob', userId: 'bob' });
    await stream.done;
  });

  it('asks for the preferences of a 500-member room in one query per event', async () => {
    let preferenceQueries = 0;
    const counter: KyselyPlugin = {
      transformQuery(args) {
        const node = args.node as { kind: string; from?: { froms: { table?: { identifier?: { name: string } } }[] } };
        const table = node.from?.froms[0]?.table?.identifier?.name;
        if (node.kind === 'SelectQueryNode' && table === 'notifier_preferences') preferenceQueries++;
        return new OperationNodeTransformer().transformNode(args.node);
      },
      async transformResult(args) {
        return args.result;
      },
    };
    notifier = await startTestNotifier({ wrapDb: (db: Kysely<NotifierTables>) => db.withPlugin(counter) });
    const ids = Array.from({ length: 500 }, (_, i) => `u${i}`);
    await roomWith(ids, 'big', 'Big room');
    preferenceQueries = 0;
    await notifier.publishMessage({ roomId: 'big', authorId: 'u0', text: 'to everyone' });
    await notifier.publishMessage({ roomId: 'big', authorId: 'u1', text: 'again' });
    await waitFor(async () => (await itemsOf({ token: 'token-u0' })).length === 1, { timeoutMs: 15_000 });
    expect((await itemsOf({ token: 'token-u499' })).length).toBe(2);
    expect(preferenceQueries).toBe(2);
  });

  it('dead-letters an event that fails every delivery, counts it, and goes on with the next', async () => {
    notifier = await startTestNotifier({ extra: { retryBackoffMs: [10] } });
    const ann = notifier.auth.addUser('ann');
    const bob = notifier.auth.addUser('bob');
    notifier.auth.addRoom('room1', 'General', ['ann', 'bob']);
    const dead: unknown[] = [];
    await notifier.bus.subscribe({
      durable: 'notifier_test_deadletters',
      subjects: ['confab.deadletter.notifier'],
      handler: async (d) => {
        dead.push(d.event);
      },
    });
    // Missing every field but the id: it can never be handled.
    await notifier.publish(subjects.messageCreated('room1'), { id: 'poison-1' });
    await notifier.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'after the poison' });
    await waitFor(async () => (await itemsOf(bob)).length === 1, { timeoutMs: 10_000 });
    await waitFor(() => dead.length === 1, { timeoutMs: 10_000 });
    expect(JSON.stringify(dead[0])).toContain('poison-1');
    const metrics = await notifier.registry.metrics();
    expect(metrics).toContain('confab_notifier_dead_letters_total 1');
    expect(metrics).toMatch(/confab_notifier_events_total\{kind="message.created"\} 1/);
    expect(await itemsOf(ann)).toEqual([]);
  });

  it('retries an event while the directory is unreachable and notifies once it is back; HTTP says 503 meanwhile', async () => {
    notifier = await startTestNotifier({ extra: { retryBackoffMs: [50] } });
    notifier.auth.addUser('ann');
    const bob = notifier.auth.addUser('bob');
    notifier.auth.addRoom('room1', 'General', ['ann', 'bob']);
    notifier.auth.down = true;
    await notifier.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'while auth was down' });
    const unavailable = await notifier.api(bob, '/api/notifications');
    expect(unavailable.status).toBe(503);
    expect(((await unavailable.json()) as { error: { code: string } }).error.code).toBe('unavailable');
    await new Promise((r) => setTimeout(r, 120));
    notifier.auth.down = false;
    await waitFor(async () => (await itemsOf(bob)).length === 1);
    expect((await itemsOf(bob))[0]?.body).toBe('while auth was down');
  });

  it('keeps its generated VAPID key across restarts, and is not ready once its database is gone', async () => {
    notifier = await startTestNotifier();
    const again = await startNotifier({
      config: loadNotifierConfig({ DATA_DIR: notifier.dataDir }),
      logger: silentLogger,
      database: notifier.database,
      bus: notifier.bus,
      sessions: notifier.auth,
      directory: notifier.auth,
    });
    expect(again.vapidPublicKey).toBe(notifier.handle.vapidPublicKey);
    await again.stop();
    expect(await notifier.handle.ready()).toBe(true);
    await notifier.handle.stop();
    await notifier.bus.close();
    await notifier.database.close();
    expect(await notifier.handle.ready()).toBe(false);
  });

  it('serves the VAPID public key it generated, without a session', async () => {
    await roomWith(['ann']);
    const res = await notifier!.api(null, '/api/push/vapid-public-key');
    const { key } = (await res.json()) as { key: string };
    expect(key).toMatch(/^[A-Za-z0-9_-]{80,90}$/);
    expect(key).toBe(notifier!.handle.vapidPublicKey);
  });
});
