import type { Database } from '@confab/platform';
import { type Kysely, sql } from 'kysely';
import type { NotificationKind } from '../domain/decide';
import { type Preferences, preferencesFromJson } from '../domain/preferences';
import type { NotifierTables } from './schema';

/**
 * Every read and write of the notifier's tables. The same code runs on
 * SQLite and PostgreSQL (repository.contract.ts runs against both).
 */
export interface NotificationItem {
  readonly id: string;
  readonly roomId: string;
  readonly messageId: string;
  readonly kind: NotificationKind;
  readonly title: string;
  readonly body: string;
  readonly createdAt: number;
  readonly readAt: number | null;
}

export interface PushSubscriptionRecord {
  readonly endpoint: string;
  readonly userId: string;
  readonly p256dh: string;
  readonly auth: string;
  /** The session that subscribed; its sign-out removes the subscription. */
  readonly sessionId?: string | null;
}

export interface NewNotification {
  readonly userId: string;
  readonly kind: NotificationKind;
  readonly title: string;
  readonly body: string;
  /** Push endpoints to deliver to and when; empty for none. */
  readonly pushTargets: readonly string[];
  readonly pushAtMs: number | null;
  readonly emailAtMs: number | null;
}

export interface DeliveryKey {
  readonly eventId: string;
  readonly userId: string;
  readonly channel: 'push' | 'email';
  readonly target: string;
}

export interface PendingDelivery extends DeliveryKey {
  readonly notificationId: string;
  readonly roomId: string;
  readonly messageId: string;
  readonly kind: NotificationKind;
  readonly title: string;
  readonly body: string;
  readonly createdAt: number;
  readonly attempts: number;
}

/**
 * `sending`: claimed, the request may not have left; `handed_off`: the
 * request has left the process (it will arrive), the answer is not in yet.
 */
export type DeliveryStatus = 'pending' | 'sending' | 'handed_off' | 'sent' | 'cancelled' | 'failed';

const num = (value: number | string | bigint | null): number => Number(value);

export type NotifierRepository = ReturnType<typeof createRepository>;

export function createRepository(database: Database<NotifierTables>) {
  const db: Kysely<NotifierTables> = database.db;

  const toItem = (row: {
    id: number | string;
    room_id: string;
    message_id: string;
    kind: string;
    title: string;
    body: string;
    created_at: number | string;
    read_at: number | string | null;
  }): NotificationItem => ({
    id: String(row.id),
    roomId: row.room_id,
    messageId: row.message_id,
    kind: row.kind as NotificationKind,
    title: row.title,
    body: row.body,
    createdAt: num(row.created_at),
    readAt: row.read_at === null ? null : num(row.read_at),
  });

  const withKey = (key: DeliveryKey) =>
    db
      .updateTable('notifier_deliveries')
      .where('event_id', '=', key.eventId)
      .where('user_id', '=', key.userId)
      .where('channel', '=', key.channel)
      .where('target', '=', key.target);

  const pendingSelect = () =>
    db
      .selectFrom('notifier_deliveries as d')
      .innerJoin('notifier_notifications as n', 'n.id', 'd.notification_id')
      .select([
        'd.event_id',
        'd.user_id',
        'd.channel',
        'd.target',
        'd.notification_id',
        'd.room_id',
        'd.message_id',
        'd.attempts',
        'n.kind',
        'n.title',
        'n.body',
        'n.created_at',
      ]);

  type PendingRow = {
    event_id: string;
    user_id: string;
    channel: string;
    target: string;
    notification_id: number | string;
    room_id: string;
    message_id: string;
    attempts: number | string;
    kind: string;
    title: string;
    body: string;
    created_at: number | string;
  };
  const toPending = (row: PendingRow): PendingDelivery => ({
    eventId: row.event_id,
    userId: row.user_id,
    channel: row.channel as 'push' | 'email',
    target: row.target,
    notificationId: String(row.notification_id),
    roomId: row.room_id,
    messageId: row.message_id,
    kind: row.kind as NotificationKind,
    title: row.title,
    body: row.body,
    createdAt: num(row.created_at),
    attempts: num(row.attempts),
  });

  return {
    /** A value kept across restarts (VAPID keys, the unsubscribe secret); `make` runs only when absent. */
    async settingOrCreate(key: string, make: () => string): Promise<string> {
      await db
        .insertInto('notifier_settings')
        .values({ key, value: make() })
        .onConflict((oc) => oc.column('key').doNothing())
        .execute();
      const row = await db
        .selectFrom('notifier_settings')
        .select('value')
        .where('key', '=', key)
        .executeTakeFirstOrThrow();
      return row.value;
    },

    /** Preferences of many users in ONE query (the fan-out of a message to a big room depends on it). */
    async preferencesOf(userIds: readonly string[]): Promise<Map<string, Preferences>> {
      const result = new Map<string, Preferences>();
      if (userIds.length === 0) return result;
      const rows = await db
        .selectFrom('notifier_preferences')
        .select(['user_id', 'preferences'])
        .where('user_id', 'in', [...userIds])
        .execute();
      for (const row of rows) result.set(row.user_id, preferencesFromJson(row.preferences));
      return result;
    },

    async savePreferences(userId: string, preferences: Preferences, nowMs: number): Promise<void> {
      const json = JSON.stringify(preferences);
      await db
        .insertInto('notifier_preferences')
        .values({ user_id: userId, preferences: json, updated_at: nowMs })
        .onConflict((oc) => oc.column('user_id').doUpdateSet({ preferences: json, updated_at: nowMs }))
        .execute();
    },

    async rememberMessage(message: {
      messageId: string;
      roomId: string;
      authorId: string;
      createdAt: number;
    }): Promise<void> {
      await db
        .insertInto('notifier_messages')
        .values({
          message_id: message.messageId,
          room_id: message.roomId,
          author_id: message.authorId,
          created_at: message.createdAt,
        })
        .onConflict((oc) => oc.column('message_id').doNothing())
        .execute();
    },

    async message(messageId: string): Promise<{ roomId: string; authorId: string; createdAt: number } | null> {
      const row = await db
        .selectFrom('notifier_messages')
        .selectAll()
        .where('message_id', '=', messageId)
        .executeTakeFirst();
      return row ? { roomId: row.room_id, authorId: row.author_id, createdAt: num(row.created_at) } : null;
    },

    async pushSubscriptionsOf(userIds: readonly string[]): Promise<Map<string, PushSubscriptionRecord[]>> {
      const result = new Map<string, PushSubscriptionRecord[]>();
      if (userIds.length === 0) return result;
      const rows = await db
        .selectFrom('notifier_push_subscriptions')
        .selectAll()
        .where('user_id', 'in', [...userIds])
        .execute();
      for (const row of rows) {
        const list = result.get(row.user_id) ?? [];
        list.push({ endpoint: row.endpoint, userId: row.user_id, p256dh: row.p256dh, auth: row.auth });
        result.set(row.user_id, list);
      }
      return result;
    },

    async pushSubscription(endpoint: string): Promise<PushSubscriptionRecord | null> {
      const row = await db
        .selectFrom('notifier_push_subscriptions')
        .selectAll()
        .where('endpoint', '=', endpoint)
        .executeTakeFirst();
      return row ? { endpoint: row.endpoint, userId: row.user_id, p256dh: row.p256dh, auth: row.auth } : null;
    },

    /**
     * Adds or takes over a subscription (a browser re-subscribing after a
     * sign-in as someone else). A user keeps at most `maxPerUser`: the oldest
     * go, so one account cannot make every message fan out to a thousand
     * endpoints.
     */
    async savePushSubscription(subscription: PushSubscriptionRecord, nowMs: number, maxPerUser = 20): Promise<void> {
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('notifier_push_subscriptions')
          .values({
            endpoint: subscription.endpoint,
            user_id: subscription.userId,
            p256dh: subscription.p256dh,
            auth: subscription.auth,
            created_at: nowMs,
            session_id: subscription.sessionId ?? null,
          })
          .onConflict((oc) =>
            oc.column('endpoint').doUpdateSet({
              user_id: subscription.userId,
              p256dh: subscription.p256dh,
              auth: subscription.auth,
              created_at: nowMs,
              session_id: subscription.sessionId ?? null,
            }),
          )
          .execute();
        const surplus = await trx
          .selectFrom('notifier_push_subscriptions')
          .select('endpoint')
          .where('user_id', '=', subscription.userId)
          .orderBy('created_at', 'desc')
          .orderBy('endpoint')
          .offset(maxPerUser)
          .limit(1000)
          .execute();
        if (surplus.length > 0) {
          await trx
            .deleteFrom('notifier_push_subscriptions')
            .where(
              'endpoint',
              'in',
              surplus.map((s) => s.endpoint),
            )
            .execute();
        }
      });
    },

    /** Removes the subscriptions a session made (it was signed out). Returns how many. */
    /**
     * Everything kept for a deleted account, in one transaction: its notifications, deliveries,
     * push subscriptions and preferences. (Its messages' authorship in `notifier_messages` stays:
     * the rooms keep the messages, and replies to them still need to find no one.)
     */
    async deleteUserData(userId: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('notifier_deliveries').where('user_id', '=', userId).execute();
        await trx.deleteFrom('notifier_notifications').where('user_id', '=', userId).execute();
        await trx.deleteFrom('notifier_push_subscriptions').where('user_id', '=', userId).execute();
        await trx.deleteFrom('notifier_preferences').where('user_id', '=', userId).execute();
      });
    },

    /** Everything kept about a deleted room, in one transaction: its notifications, deliveries and message authors. */
    async deleteRoomData(roomId: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('notifier_deliveries').where('room_id', '=', roomId).execute();
        await trx.deleteFrom('notifier_notifications').where('room_id', '=', roomId).execute();
        await trx.deleteFrom('notifier_messages').where('room_id', '=', roomId).execute();
      });
    },

    async deletePushSubscriptionsOfSession(sessionId: string): Promise<number> {
      const result = await db
        .deleteFrom('notifier_push_subscriptions')
        .where('session_id', '=', sessionId)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /** Removes a subscription; with `userId`, only when it is theirs. True when one was removed. */
    async deletePushSubscription(endpoint: string, userId?: string): Promise<boolean> {
      let query = db.deleteFrom('notifier_push_subscriptions').where('endpoint', '=', endpoint);
      if (userId !== undefined) query = query.where('user_id', '=', userId);
      const result = await query.executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    /**
     * Remembers the message's author and stores the in-app notifications of
     * one event and the deliveries they lead to, in one transaction. A redelivered event changes nothing
     * (unique keys). Returns the notifications that are new.
     */
    async recordNotifications(
      event: { eventId: string; roomId: string; messageId: string; messageCreatedAt: number; authorId: string },
      items: readonly NewNotification[],
      nowMs: number,
    ): Promise<{ id: string; userId: string }[]> {
      // One transaction (one commit, one fsync on SQLite) for the message's author and everything it causes.
      return db.transaction().execute(async (trx) => {
        await trx
          .insertInto('notifier_messages')
          .values({
            message_id: event.messageId,
            room_id: event.roomId,
            author_id: event.authorId,
            created_at: event.messageCreatedAt,
          })
          .onConflict((oc) => oc.column('message_id').doNothing())
          .execute();
        if (items.length === 0) return [];
        const inserted = await trx
          .insertInto('notifier_notifications')
          .values(
            items.map((item) => ({
              event_id: event.eventId,
              user_id: item.userId,
              room_id: event.roomId,
              message_id: event.messageId,
              message_created_at: event.messageCreatedAt,
              kind: item.kind,
              title: item.title,
              body: item.body,
              created_at: nowMs,
              read_at: null,
            })),
          )
          .onConflict((oc) => oc.columns(['event_id', 'user_id']).doNothing())
          .returning(['id', 'user_id'])
          .execute();
        const idOf = new Map(inserted.map((row) => [row.user_id, row.id]));
        const deliveries: NotifierTables['notifier_deliveries'][] = [];
        for (const item of items) {
          const notificationId = idOf.get(item.userId);
          if (notificationId === undefined) continue;
          const base = {
            event_id: event.eventId,
            user_id: item.userId,
            notification_id: notificationId,
            room_id: event.roomId,
            message_id: event.messageId,
            message_created_at: event.messageCreatedAt,
            status: 'pending',
            attempts: 0,
            last_error: null,
            created_at: nowMs,
            sent_at: null,
          };
          if (item.pushAtMs !== null) {
            for (const target of item.pushTargets) {
              deliveries.push({ ...base, channel: 'push', target, due_at: item.pushAtMs });
            }
          }
          if (item.emailAtMs !== null)
            deliveries.push({ ...base, channel: 'email', target: '', due_at: item.emailAtMs });
        }
        // Chunked: SQLite allows 32766 bound parameters per statement, 14 per row here.
        for (let i = 0; i < deliveries.length; i += 1000) {
          await trx
            .insertInto('notifier_deliveries')
            .values(deliveries.slice(i, i + 1000))
            .onConflict((oc) => oc.columns(['event_id', 'user_id', 'channel', 'target']).doNothing())
            .execute();
        }
        return inserted.map((row) => ({ id: String(row.id), userId: row.user_id }));
      });
    },

    /** An edit reaches notifications not yet read and emails not yet sent (they render from the row). */
    async editMessage(messageId: string, body: string): Promise<void> {
      await db.updateTable('notifier_notifications').set({ body }).where('message_id', '=', messageId).execute();
    },

    /** A deleted message's text is gone for good: its notifications go, and nothing pending is sent. */
    async deleteMessage(messageId: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        await trx
          .updateTable('notifier_deliveries')
          .set({ status: 'cancelled' })
          .where('message_id', '=', messageId)
          .where('status', '=', 'pending')
          .execute();
        await trx.deleteFrom('notifier_notifications').where('message_id', '=', messageId).execute();
        await trx.deleteFrom('notifier_messages').where('message_id', '=', messageId).execute();
      });
    },

    /** The user read the room up to a message: its notifications are read and nothing pending is sent. */
    async readUpTo(userId: string, roomId: string, messageCreatedAt: number, nowMs: number): Promise<number> {
      const cancelled = await db
        .updateTable('notifier_deliveries')
        .set({ status: 'cancelled' })
        .where('user_id', '=', userId)
        .where('room_id', '=', roomId)
        .where('status', '=', 'pending')
        .where('message_created_at', '<=', messageCreatedAt)
        .executeTakeFirst();
      await db
        .updateTable('notifier_notifications')
        .set({ read_at: nowMs })
        .where('user_id', '=', userId)
        .where('room_id', '=', roomId)
        .where('read_at', 'is', null)
        .where('message_created_at', '<=', messageCreatedAt)
        .execute();
      return Number(cancelled.numUpdatedRows);
    },

    /** A member left or was removed: nothing more from that room reaches them. */
    async cancelPendingInRoom(userId: string, roomId: string): Promise<void> {
      await db
        .updateTable('notifier_deliveries')
        .set({ status: 'cancelled' })
        .where('user_id', '=', userId)
        .where('room_id', '=', roomId)
        .where('status', '=', 'pending')
        .execute();
    },

    /** Newest first; `cursor` is the id of the last item of the previous page. */
    async listNotifications(
      userId: string,
      cursor: string | null,
      limit: number,
    ): Promise<{ items: NotificationItem[]; nextCursor: string | null }> {
      let query = db
        .selectFrom('notifier_notifications')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('id', 'desc')
        .limit(limit + 1);
      if (cursor !== null) query = query.where('id', '<', Number(cursor));
      const rows = await query.execute();
      const items = rows.slice(0, limit).map(toItem);
      return { items, nextCursor: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
    },

    /** Oldest first, after `afterId` (SSE resume). */
    async notificationsAfter(userId: string, afterId: string, limit: number): Promise<NotificationItem[]> {
      const rows = await db
        .selectFrom('notifier_notifications')
        .selectAll()
        .where('user_id', '=', userId)
        .where('id', '>', Number(afterId))
        .orderBy('id', 'asc')
        .limit(limit)
        .execute();
      return rows.map(toItem);
    },

    /** The user's newest unread notifications' ids, newest first (what a freshly opened feed shows as unread). */
    async unreadIds(userId: string, limit: number): Promise<string[]> {
      const rows = await db
        .selectFrom('notifier_notifications')
        .select('id')
        .where('user_id', '=', userId)
        .where('read_at', 'is', null)
        .orderBy('id', 'desc')
        .limit(limit)
        .execute();
      return rows.map((row) => String(row.id));
    },

    /** Which of these notifications of the user have been read since (by a read marker, another tab or device). */
    async readAmong(userId: string, ids: readonly string[]): Promise<string[]> {
      if (ids.length === 0) return [];
      const rows = await db
        .selectFrom('notifier_notifications')
        .select('id')
        .where('user_id', '=', userId)
        .where('id', 'in', ids.map(Number))
        .where('read_at', 'is not', null)
        .orderBy('id', 'asc')
        .execute();
      return rows.map((row) => String(row.id));
    },

    async latestNotificationId(userId: string): Promise<string> {
      const row = await db
        .selectFrom('notifier_notifications')
        .select((eb) => eb.fn.max('id').as('max'))
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return String(row?.max ?? 0);
    },

    async markRead(userId: string, ids: readonly string[] | 'all', nowMs: number): Promise<void> {
      let query = db
        .updateTable('notifier_notifications')
        .set({ read_at: nowMs })
        .where('user_id', '=', userId)
        .where('read_at', 'is', null);
      if (ids !== 'all') {
        if (ids.length === 0) return;
        query = query.where('id', 'in', ids.map(Number));
      }
      await query.execute();
    },

    /** Pushes due now, oldest first. */
    async duePushes(nowMs: number, limit: number): Promise<PendingDelivery[]> {
      const rows = await pendingSelect()
        .where('d.channel', '=', 'push')
        .where('d.status', '=', 'pending')
        .where('d.due_at', '<=', nowMs)
        .orderBy('d.due_at')
        .limit(limit)
        .execute();
      return rows.map(toPending);
    },

    /** Users with at least one email due now. */
    async usersWithDueEmail(nowMs: number, limit: number): Promise<string[]> {
      const rows = await db
        .selectFrom('notifier_deliveries')
        .select('user_id')
        .distinct()
        .where('channel', '=', 'email')
        .where('status', '=', 'pending')
        .where('due_at', '<=', nowMs)
        .limit(limit)
        .execute();
      return rows.map((row) => row.user_id);
    },

    /** All of a user's pending emails (the due one and those that would follow it). */
    async pendingEmailsOf(userId: string): Promise<PendingDelivery[]> {
      const rows = await pendingSelect()
        .where('d.channel', '=', 'email')
        .where('d.status', '=', 'pending')
        .where('d.user_id', '=', userId)
        .orderBy('n.created_at')
        .execute();
      return rows.map(toPending);
    },

    /**
     * Moves deliveries from `pending` to `sending`, so another instance does
     * not pick them up. Returns the ones this call claimed.
     */
    async claim<K extends DeliveryKey>(keys: readonly K[]): Promise<K[]> {
      const claimed: K[] = [];
      for (const key of keys) {
        const result = await withKey(key).set({ status: 'sending' }).where('status', '=', 'pending').executeTakeFirst();
        if (Number(result.numUpdatedRows) === 1) claimed.push(key);
      }
      return claimed;
    },

    /** The request has been handed to the operating system (see PushSender.send). */
    async handedOff(key: DeliveryKey): Promise<void> {
      await withKey(key).set({ status: 'handed_off' }).where('status', '=', 'sending').execute();
    },

    async finish(
      key: DeliveryKey,
      outcome:
        | { status: 'sent'; nowMs: number }
        | { status: 'failed' | 'cancelled'; error: string }
        | { status: 'pending'; dueAtMs: number; attempts: number; error: string },
    ): Promise<void> {
      if (outcome.status === 'sent') {
        await withKey(key).set({ status: 'sent', sent_at: outcome.nowMs }).execute();
      } else if (outcome.status === 'pending') {
        await withKey(key)
          .set({ status: 'pending', due_at: outcome.dueAtMs, attempts: outcome.attempts, last_error: outcome.error })
          .execute();
      } else {
        await withKey(key).set({ status: outcome.status, last_error: outcome.error }).execute();
      }
    },

    /**
     * After a crash: a delivery still `sending` had not left the process, so
     * it goes back to `pending`; one `handed_off` had left and reached the
     * push service, so it counts as sent. The one window where a push can go
     * out twice is between its hand-off and that row's update (about one
     * database write); emails are only marked after the SMTP server's answer,
     * so an email interrupted mid-transaction is sent again (with the same
     * Message-ID, which mail systems use to drop the repeat).
     */
    async releaseInFlight(nowMs: number): Promise<{ retried: number; assumedSent: number }> {
      const assumed = await db
        .updateTable('notifier_deliveries')
        .set({ status: 'sent', sent_at: nowMs, last_error: 'interrupted after hand-off; counted as sent' })
        .where('status', '=', 'handed_off')
        .executeTakeFirst();
      const retried = await db
        .updateTable('notifier_deliveries')
        .set({ status: 'pending' })
        .where('status', '=', 'sending')
        .executeTakeFirst();
      return { retried: Number(retried.numUpdatedRows), assumedSent: Number(assumed.numUpdatedRows) };
    },

    /**
     * Forgets old history so the tables do not grow without end: finished
     * deliveries, notifications (never one a delivery still waits for) and
     * remembered message authors older than the given instants.
     */
    async prune(before: { deliveriesMs: number; notificationsMs: number; messagesMs: number }): Promise<number> {
      const deliveries = await db
        .deleteFrom('notifier_deliveries')
        .where('status', 'in', ['sent', 'cancelled', 'failed'])
        .where('created_at', '<', before.deliveriesMs)
        .executeTakeFirst();
      const notifications = await db
        .deleteFrom('notifier_notifications')
        .where('created_at', '<', before.notificationsMs)
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('notifier_deliveries as d')
                .select('d.event_id')
                .whereRef('d.notification_id', '=', 'notifier_notifications.id')
                .where('d.status', 'in', ['pending', 'sending', 'handed_off']),
            ),
          ),
        )
        .executeTakeFirst();
      const messages = await db
        .deleteFrom('notifier_messages')
        .where('created_at', '<', before.messagesMs)
        .executeTakeFirst();
      return Number(deliveries.numDeletedRows) + Number(notifications.numDeletedRows) + Number(messages.numDeletedRows);
    },

    async deliveryCounts(): Promise<Record<string, number>> {
      const rows = await db
        .selectFrom('notifier_deliveries')
        .select(['channel', 'status', (eb) => eb.fn.countAll().as('count')])
        .groupBy(['channel', 'status'])
        .execute();
      return Object.fromEntries(rows.map((row) => [`${row.channel}:${row.status}`, Number(row.count)]));
    },

    async ping(): Promise<boolean> {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
  };
}
