import type { Database } from '@confab/platform';
import { migrate } from '@confab/platform';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PREFERENCES } from '../domain/preferences';
import { createRepository, type NotifierRepository } from './repository';
import { type NotifierTables, notifierMigrations } from './schema';

/**
 * The repository behaviour both databases must show. `setup` returns a fresh,
 * empty database and a teardown.
 */
export function runRepositoryContract(
  name: string,
  setup: () => Promise<{ database: Database<NotifierTables>; teardown: () => Promise<void> }>,
): void {
  describe(`notifier repository: ${name}`, () => {
    let repo: NotifierRepository;
    let teardown: () => Promise<void>;

    beforeAll(async () => {
      const made = await setup();
      teardown = made.teardown;
      const db = made.database.db as unknown as Kysely<unknown>;
      await migrate(db, 'notifier', notifierMigrations(made.database.kind));
      // Running the migrations twice is harmless (every start does it).
      await migrate(db, 'notifier', notifierMigrations(made.database.kind));
      repo = createRepository(made.database);
    });
    afterAll(async () => {
      await teardown?.();
    });

    const event = (n: number) => ({
      eventId: `e${n}`,
      roomId: 'r1',
      messageId: `m${n}`,
      messageCreatedAt: 1000 + n,
      authorId: 'author',
    });
    const item = (
      userId: string,
      extra: Partial<Parameters<NotifierRepository['recordNotifications']>[1][0]> = {},
    ) => ({
      userId,
      kind: 'message' as const,
      title: 't',
      body: 'b',
      pushTargets: [],
      pushAtMs: null,
      emailAtMs: null,
      ...extra,
    });

    it('keeps a setting once created, whatever later calls would make', async () => {
      const first = await repo.settingOrCreate('k', () => 'one');
      const second = await repo.settingOrCreate('k', () => 'two');
      expect([first, second]).toEqual(['one', 'one']);
    });

    it('stores preferences and reads many users in one call, leaving out those without', async () => {
      await repo.savePreferences('u1', { ...DEFAULT_PREFERENCES, push: false }, 1);
      await repo.savePreferences('u1', { ...DEFAULT_PREFERENCES, email: false }, 2);
      const prefs = await repo.preferencesOf(['u1', 'u2']);
      expect(prefs.get('u1')).toEqual({ ...DEFAULT_PREFERENCES, email: false });
      expect(prefs.has('u2')).toBe(false);
    });

    it('records an event’s notifications once, however often it is recorded', async () => {
      const items = [item('a', { emailAtMs: 50 }), item('b')];
      const first = await repo.recordNotifications(event(1), items, 10);
      const again = await repo.recordNotifications(event(1), items, 11);
      expect(first.map((n) => n.userId).sort()).toEqual(['a', 'b']);
      expect(again).toEqual([]);
      expect((await repo.listNotifications('a', null, 10)).items).toHaveLength(1);
      expect(await repo.usersWithDueEmail(50, 10)).toEqual(['a']);
      expect(await repo.usersWithDueEmail(49, 10)).toEqual([]);
    });

    it('pages notifications newest first with a cursor', async () => {
      for (let n = 10; n < 15; n++) await repo.recordNotifications(event(n), [item('pager')], n);
      const page1 = await repo.listNotifications('pager', null, 2);
      const page2 = await repo.listNotifications('pager', page1.nextCursor, 2);
      const page3 = await repo.listNotifications('pager', page2.nextCursor, 2);
      expect([...page1.items, ...page2.items, ...page3.items].map((i) => i.messageId)).toEqual([
        'm14',
        'm13',
        'm12',
        'm11',
        'm10',
      ]);
      expect(page3.nextCursor).toBeNull();
      const after = await repo.notificationsAfter('pager', page2.items[0]?.id ?? '0', 10);
      expect(after.map((i) => i.messageId)).toEqual(['m13', 'm14']);
    });

    it('marks chosen or all notifications read, only the user’s own', async () => {
      await repo.recordNotifications(event(20), [item('reader'), item('other')], 1);
      await repo.recordNotifications(event(21), [item('reader')], 1);
      const { items } = await repo.listNotifications('reader', null, 10);
      const otherId = (await repo.listNotifications('other', null, 10)).items[0]?.id ?? '';
      await repo.markRead('reader', [items[1]?.id ?? '', otherId], 99);
      expect((await repo.listNotifications('reader', null, 10)).items.map((i) => i.readAt)).toEqual([null, 99]);
      expect((await repo.listNotifications('other', null, 10)).items[0]?.readAt).toBeNull();
      await repo.markRead('reader', 'all', 100);
      expect((await repo.listNotifications('reader', null, 10)).items.map((i) => i.readAt)).toEqual([100, 99]);
    });

    it('lists unread ids newest first and tells which of given ids were read since, only the user’s own', async () => {
      await repo.recordNotifications(event(22), [item('watcher'), item('stranger')], 1);
      await repo.recordNotifications(event(23), [item('watcher')], 1);
      await repo.recordNotifications(event(24), [item('watcher')], 1);
      const unread = await repo.unreadIds('watcher', 10);
      expect(unread).toHaveLength(3);
      expect(await repo.unreadIds('watcher', 2)).toEqual(unread.slice(0, 2));
      expect(await repo.readAmong('watcher', unread)).toEqual([]);
      const strangers = await repo.unreadIds('stranger', 10);
      await repo.markRead('watcher', [unread[0]!, unread[2]!], 5);
      await repo.markRead('stranger', 'all', 5);
      expect(await repo.readAmong('watcher', [...unread, ...strangers])).toEqual([unread[2], unread[0]]);
      expect(await repo.unreadIds('watcher', 10)).toEqual([unread[1]]);
      expect(await repo.readAmong('watcher', [])).toEqual([]);
    });

    it('claims a pending delivery once, and releases what a crash left in flight', async () => {
      await repo.recordNotifications(event(30), [item('pushy', { pushTargets: ['https://p/1'], pushAtMs: 5 })], 1);
      const due = await repo.duePushes(5, 10);
      expect(due.map((d) => d.userId)).toEqual(['pushy']);
      expect(await repo.claim(due)).toHaveLength(1);
      expect(await repo.claim(due)).toHaveLength(0);
      expect(await repo.duePushes(5, 10)).toEqual([]);
      expect(await repo.releaseInFlight(6)).toEqual({ retried: 1, assumedSent: 0 });
      const [again] = await repo.duePushes(5, 10);
      await repo.finish(again!, { status: 'sent', nowMs: 6 });
      expect(await repo.duePushes(1e15, 10)).toEqual([]);
    });

    it('counts a push handed off before a crash as sent, and sends one only claimed again', async () => {
      const handed = item('h1', { pushTargets: ['https://p/h1'], pushAtMs: 5 });
      const claimedOnly = item('h2', { pushTargets: ['https://p/h2'], pushAtMs: 5 });
      await repo.recordNotifications(event(31), [handed, claimedOnly], 1);
      const due = (await repo.duePushes(5, 10)).filter((d) => d.eventId === 'e31');
      await repo.claim(due);
      await repo.handedOff(due.find((d) => d.userId === 'h1')!);
      expect(await repo.releaseInFlight(9)).toEqual({ retried: 1, assumedSent: 1 });
      expect((await repo.duePushes(5, 10)).map((d) => d.userId)).toEqual(['h2']);
      expect(await repo.deliveryCounts()).toMatchObject({ 'push:sent': 2, 'push:pending': 1 });
    });

    it('cancels pending deliveries up to a read marker, and marks those notifications read', async () => {
      await repo.recordNotifications(event(40), [item('r', { emailAtMs: 1 })], 1);
      await repo.recordNotifications(event(41), [item('r', { emailAtMs: 1 })], 1);
      expect(await repo.readUpTo('r', 'r1', 1040, 7)).toBe(1);
      const left = await repo.pendingEmailsOf('r');
      expect(left.map((d) => d.messageId)).toEqual(['m41']);
      const read = (await repo.listNotifications('r', null, 10)).items.map((i) => [i.messageId, i.readAt]);
      expect(read).toEqual([
        ['m41', null],
        ['m40', 7],
      ]);
    });

    it('an edit changes pending notifications; a delete removes them and cancels their deliveries', async () => {
      await repo.recordNotifications(event(50), [item('ed', { emailAtMs: 1 })], 1);
      await repo.editMessage('m50', 'edited');
      expect((await repo.pendingEmailsOf('ed'))[0]?.body).toBe('edited');
      await repo.deleteMessage('m50');
      expect(await repo.pendingEmailsOf('ed')).toEqual([]);
      expect((await repo.listNotifications('ed', null, 10)).items).toEqual([]);
    });

    it('forgets everything of a deleted room, and nothing of another', async () => {
      await repo.recordNotifications({ ...event(70), roomId: 'doomed' }, [item('rd', { emailAtMs: 1 })], 1);
      await repo.recordNotifications({ ...event(71), roomId: 'kept' }, [item('rd', { emailAtMs: 1 })], 1);
      await repo.deleteRoomData('doomed');
      const left = (await repo.listNotifications('rd', null, 10)).items;
      expect(left.map((n) => n.roomId)).toEqual(['kept']);
      expect((await repo.pendingEmailsOf('rd')).map((d) => d.roomId)).toEqual(['kept']);
    });

    it('forgets everything of a deleted user, and nothing of anyone else', async () => {
      await repo.recordNotifications(event(60), [item('gone', { emailAtMs: 1 }), item('stays', { emailAtMs: 1 })], 1);
      await repo.savePushSubscription({ endpoint: 'https://p/gone', userId: 'gone', p256dh: 'k', auth: 'a' }, 1);
      await repo.savePushSubscription({ endpoint: 'https://p/stays', userId: 'stays', p256dh: 'k', auth: 'a' }, 1);
      await repo.savePreferences('gone', { ...DEFAULT_PREFERENCES, email: false }, 1);
      await repo.deleteUserData('gone');
      expect((await repo.listNotifications('gone', null, 10)).items).toEqual([]);
      expect(await repo.pendingEmailsOf('gone')).toEqual([]);
      expect((await repo.pushSubscriptionsOf(['gone'])).get('gone')).toBeUndefined();
      expect((await repo.preferencesOf(['gone'])).has('gone')).toBe(false);
      expect((await repo.listNotifications('stays', null, 10)).items).toHaveLength(1);
      expect(await repo.pendingEmailsOf('stays')).toHaveLength(1);
      expect((await repo.pushSubscriptionsOf(['stays'])).get('stays')).toHaveLength(1);
    });

    it('keeps push subscriptions per endpoint and deletes only the owner’s', async () => {
      await repo.savePushSubscription({ endpoint: 'https://p/x', userId: 'u1', p256dh: 'k', auth: 'a' }, 1);
      expect(await repo.deletePushSubscription('https://p/x', 'u2')).toBe(false);
      expect((await repo.pushSubscriptionsOf(['u1'])).get('u1')).toHaveLength(1);
      expect(await repo.deletePushSubscription('https://p/x', 'u1')).toBe(true);
      expect((await repo.pushSubscriptionsOf(['u1'])).get('u1')).toBeUndefined();
    });

    it('prunes finished history but keeps what a delivery still waits for', async () => {
      await repo.recordNotifications(event(60), [item('old', { emailAtMs: 1 })], 100);
      await repo.recordNotifications(event(61), [item('old')], 100);
      await repo.rememberMessage({ messageId: 'ancient', roomId: 'r1', authorId: 'ann', createdAt: 50 });
      await repo.prune({ deliveriesMs: 1000, notificationsMs: 1000, messagesMs: 1000 });
      // m60 still has a pending email, so its notification stays; m61 is gone.
      expect((await repo.listNotifications('old', null, 10)).items.map((i) => i.messageId)).toEqual(['m60']);
      expect(await repo.message('ancient')).toBeNull();
      const [pending] = await repo.pendingEmailsOf('old');
      await repo.finish(pending!, { status: 'sent', nowMs: 200 });
      await repo.prune({ deliveriesMs: 1000, notificationsMs: 1000, messagesMs: 1000 });
      expect((await repo.listNotifications('old', null, 10)).items).toEqual([]);
      expect(await repo.pendingEmailsOf('old')).toEqual([]);
    });

    it('keeps at most the newest push subscriptions of a user', async () => {
      for (let n = 0; n < 5; n++) {
        await repo.savePushSubscription(
          { endpoint: `https://p/cap${n}`, userId: 'capped', p256dh: 'k', auth: 'a' },
          n,
          3,
        );
      }
      const kept = (await repo.pushSubscriptionsOf(['capped']))
        .get('capped')
        ?.map((s) => s.endpoint)
        .sort();
      expect(kept).toEqual(['https://p/cap2', 'https://p/cap3', 'https://p/cap4']);
    });

    it('remembers message authors for replies, also with the notifications of the message', async () => {
      await repo.recordNotifications({ ...event(70), authorId: 'zed' }, [], 1);
      expect(await repo.message('m70')).toEqual({ roomId: 'r1', authorId: 'zed', createdAt: 1070 });
      await repo.rememberMessage({ messageId: 'mm', roomId: 'r1', authorId: 'ann', createdAt: 5 });
      await repo.rememberMessage({ messageId: 'mm', roomId: 'r1', authorId: 'changed', createdAt: 6 });
      expect(await repo.message('mm')).toEqual({ roomId: 'r1', authorId: 'ann', createdAt: 5 });
      expect(await repo.message('nope')).toBeNull();
    });
  });
}
