import { migrate, openDatabase } from '@confab/platform';
import { subjects } from '@confab/protocol';
import type { Kysely } from 'kysely';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheDirectory } from './adapters/directory-cache';
import { createNotifierMetrics } from './adapters/metrics';
import { createRepository } from './adapters/repository';
import { type NotifierTables, notifierMigrations } from './adapters/schema';
import { createEventHandler } from './consumer';
import { FakeAuth } from './testing/fakes';
import { silentLogger } from './testing/harness';

describe('the bus handler', () => {
  const database = openDatabase<NotifierTables>({ dataDir: '.', sqliteFile: ':memory:' });
  const repo = createRepository(database);
  const auth = new FakeAuth();
  let now = 1_000_000;
  const woken: string[][] = [];
  const resetsSent: string[] = [];
  let failResets = 0;
  const handler = createEventHandler({
    repo,
    directory: cacheDirectory(auth, { ttlMs: 60_000, clock: () => now }),
    logger: silentLogger,
    metrics: createNotifierMetrics(new Registry()),
    clock: () => now,
    maxDeliver: 5,
    onNotified: (userIds) => woken.push([...userIds]),
    onDeliveriesRecorded: () => {},
    onSessionRevoked: () => {},
    async sendPasswordReset(event) {
      if (failResets > 0) {
        failResets--;
        throw new Error('smtp down');
      }
      resetsSent.push(event.token);
    },
  });

  beforeAll(async () => {
    await migrate(database.db as unknown as Kysely<unknown>, 'notifier', notifierMigrations('sqlite'));
    for (const id of ['ann', 'bob', 'cy']) auth.addUser(id);
    auth.addRoom('r1', 'Room', ['ann', 'bob', 'cy']);
    await repo.savePushSubscription({ endpoint: 'https://push.example/bob', userId: 'bob', p256dh: 'k', auth: 'a' }, 1);
  });
  afterAll(() => database.close());

  it('handles a redelivered event as a no-op: one notification and one delivery per channel each', async () => {
    const event = {
      id: 'evt-1',
      roomId: 'r1',
      messageId: 'msg-1',
      authorId: 'ann',
      text: 'hello',
      replyTo: null,
      mentions: ['bob'],
      createdAt: now,
      onlineUserIds: [],
    };
    await handler({ subject: subjects.messageCreated('r1'), event, attempt: 1 });
    now += 5000; // a redelivery comes later: it must not reschedule anything
    await handler({ subject: subjects.messageCreated('r1'), event, attempt: 2 });
    const notifications = await database.db.selectFrom('notifier_notifications').selectAll().execute();
    expect(notifications.map((n) => [n.user_id, n.kind]).sort()).toEqual([
      ['bob', 'mention'],
      ['cy', 'message'],
    ]);
    const deliveries = await database.db
      .selectFrom('notifier_deliveries')
      .select(['user_id', 'channel', 'due_at'])
      .orderBy('user_id')
      .orderBy('channel')
      .execute();
    expect(deliveries.map((d) => [d.user_id, d.channel, Number(d.due_at)])).toEqual([
      ['bob', 'email', 1_000_000 + 10 * 60_000],
      ['bob', 'push', 1_000_000],
      ['cy', 'email', 1_000_000 + 10 * 60_000],
    ]);
    expect(woken).toEqual([['bob', 'cy']]);
  });

  it('throws on a payload that breaks its schema, so the bus retries and then dead-letters it', async () => {
    await expect(
      handler({ subject: subjects.messageCreated('r1'), event: { id: 'bad', roomId: 'r1' }, attempt: 1 }),
    ).rejects.toThrow();
  });

  it('emails a reset link at once, throws for a redelivery when sending fails, and drops an expired one', async () => {
    const reset = (id: string, token: string, expiresAt: number) => ({
      subject: subjects.passwordResetRequested,
      event: { id, userId: 'bob', email: 'bob@example.test', displayName: 'Bob', token, expiresAt },
      attempt: 1,
    });
    failResets = 1;
    await expect(handler(reset('r-1', 'a'.repeat(32), now + 60_000))).rejects.toThrow('smtp down');
    await handler({ ...reset('r-1', 'a'.repeat(32), now + 60_000), attempt: 2 });
    expect(resetsSent).toEqual(['a'.repeat(32)]);
    await handler(reset('r-2', 'b'.repeat(32), now));
    expect(resetsSent).toEqual(['a'.repeat(32)]);
  });

  it('forgets a deleted account: its notifications and push subscriptions', async () => {
    await repo.savePushSubscription({ endpoint: 'https://push.example/dan', userId: 'dan', p256dh: 'k', auth: 'a' }, 1);
    await repo.recordNotifications(
      { eventId: 'e-dan', roomId: 'r1', messageId: 'm-dan', messageCreatedAt: now, authorId: 'ann' },
      [{ userId: 'dan', kind: 'message', title: 't', body: 'b', pushTargets: [], pushAtMs: null, emailAtMs: now }],
      now,
    );
    expect((await repo.listNotifications('dan', null, 10)).items).toHaveLength(1);
    await handler({ subject: subjects.userDeleted, event: { id: 'del-dan', userId: 'dan' }, attempt: 1 });
    expect((await repo.listNotifications('dan', null, 10)).items).toEqual([]);
    expect((await repo.pushSubscriptionsOf(['dan'])).get('dan')).toBeUndefined();
  });

  it('acks events on subjects outside the contract instead of retrying them', async () => {
    await expect(
      handler({ subject: 'confab.room.r1.reaction.added', event: { id: 'future-1' }, attempt: 1 }),
    ).resolves.toBeUndefined();
  });

  it('ignores a message for a room the directory does not know', async () => {
    await handler({
      subject: subjects.messageCreated('gone'),
      event: {
        id: 'evt-gone',
        roomId: 'gone',
        messageId: 'msg-gone',
        authorId: 'ann',
        text: 'x',
        replyTo: null,
        mentions: [],
        createdAt: now,
        onlineUserIds: [],
      },
      attempt: 1,
    });
    const rows = await database.db
      .selectFrom('notifier_notifications')
      .select('id')
      .where('room_id', '=', 'gone')
      .execute();
    expect(rows).toEqual([]);
  });
});
