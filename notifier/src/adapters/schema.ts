import type { DatabaseKind } from '@confab/platform';
import type { Generated, Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * The notifier's tables, all prefixed `notifier_` (they may share a database
 * with other services). Times are epoch milliseconds in `bigint` columns;
 * PostgreSQL returns those as strings, so the repository converts on read.
 */
export interface NotifierTables {
  notifier_settings: { key: string; value: string };
  notifier_preferences: { user_id: string; preferences: string; updated_at: number };
  /** messageId → author, for replies; and createdAt, for read markers. */
  notifier_messages: { message_id: string; room_id: string; author_id: string; created_at: number };
  notifier_notifications: {
    id: Generated<number>;
    event_id: string;
    user_id: string;
    room_id: string;
    message_id: string;
    message_created_at: number;
    kind: string;
    title: string;
    body: string;
    created_at: number;
    read_at: number | null;
  };
  /**
   * One row per (event, user, channel, target), written BEFORE anything is
   * sent: the primary key makes a redelivered event a no-op, and a row still
   * `pending` after a crash is sent by the next run. `target` is the push
   * endpoint (a user may have several devices), '' for email.
   */
  notifier_deliveries: {
    event_id: string;
    user_id: string;
    channel: string;
    target: string;
    notification_id: number;
    room_id: string;
    message_id: string;
    message_created_at: number;
    status: string;
    due_at: number;
    attempts: number;
    last_error: string | null;
    created_at: number;
    sent_at: number | null;
  };
  notifier_push_subscriptions: {
    endpoint: string;
    user_id: string;
    p256dh: string;
    auth: string;
    created_at: number;
    /** The session that made it: signing that session out drops it (null for rows from before 002). */
    session_id: string | null;
  };
}

export function notifierMigrations(kind: DatabaseKind): Record<string, Migration> {
  return {
    '001_initial': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('notifier_settings')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('notifier_preferences')
          .addColumn('user_id', 'text', (c) => c.primaryKey())
          .addColumn('preferences', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('notifier_messages')
          .addColumn('message_id', 'text', (c) => c.primaryKey())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('author_id', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('notifier_notifications')
          .addColumn('id', kind === 'postgres' ? 'bigserial' : 'integer', (c) =>
            kind === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('event_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('message_id', 'text', (c) => c.notNull())
          .addColumn('message_created_at', 'bigint', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('title', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('read_at', 'bigint')
          .addUniqueConstraint('notifier_notifications_event_user', ['event_id', 'user_id'])
          .execute();
        await db.schema
          .createIndex('notifier_notifications_user_id')
          .on('notifier_notifications')
          .columns(['user_id', 'id'])
          .execute();
        await db.schema
          .createIndex('notifier_notifications_message')
          .on('notifier_notifications')
          .column('message_id')
          .execute();
        await db.schema
          .createTable('notifier_deliveries')
          .addColumn('event_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('channel', 'text', (c) => c.notNull())
          .addColumn('target', 'text', (c) => c.notNull())
          .addColumn('notification_id', 'bigint', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('message_id', 'text', (c) => c.notNull())
          .addColumn('message_created_at', 'bigint', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('due_at', 'bigint', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('last_error', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('sent_at', 'bigint')
          .addPrimaryKeyConstraint('notifier_deliveries_pk', ['event_id', 'user_id', 'channel', 'target'])
          .execute();
        await db.schema
          .createIndex('notifier_deliveries_due')
          .on('notifier_deliveries')
          .columns(['status', 'channel', 'due_at'])
          .execute();
        await db.schema
          .createIndex('notifier_deliveries_user_room')
          .on('notifier_deliveries')
          .columns(['user_id', 'room_id', 'status'])
          .execute();
        await db.schema
          .createIndex('notifier_deliveries_message')
          .on('notifier_deliveries')
          .column('message_id')
          .execute();
        await db.schema
          .createTable('notifier_push_subscriptions')
          .addColumn('endpoint', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('p256dh', 'text', (c) => c.notNull())
          .addColumn('auth', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('notifier_push_subscriptions_user')
          .on('notifier_push_subscriptions')
          .column('user_id')
          .execute();
      },
    },
    // A browser signed out must stop receiving message previews: subscriptions remember their session.
    '002_push_subscription_session': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('notifier_push_subscriptions').addColumn('session_id', 'text').execute();
        await db.schema
          .createIndex('notifier_push_subscriptions_session')
          .on('notifier_push_subscriptions')
          .column('session_id')
          .execute();
      },
    },
  };
}
