import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * The auth server's tables (prefix `auth_`; other services share the
 * database in all-in-one mode). Times are epoch milliseconds in bigint
 * columns; PostgreSQL hands bigints back as strings, so the repository
 * converts them with Number().
 */
type Millis = number | string | bigint;

export interface AuthTables {
  auth_users: {
    id: string;
    email: string;
    display_name: string;
    password_hash: string;
    created_at: Millis;
  };
  auth_sessions: {
    id: string;
    user_id: string;
    secret_hash: string;
    created_at: Millis;
    expires_at: Millis;
    last_seen_at: Millis;
    user_agent: string | null;
  };
  auth_rooms: { id: string; name: string; topic: string; created_at: Millis };
  auth_members: { room_id: string; user_id: string; role: string; joined_at: Millis };
  auth_invites: {
    code_hash: string;
    room_id: string;
    role: string;
    max_uses: number | null;
    uses: number;
    expires_at: Millis | null;
    created_by: string;
    created_at: Millis;
  };
  auth_keys: { kid: string; private_jwk: string; public_jwk: string; created_at: Millis; retired_at: Millis | null };
  auth_throttle: { key: string; tokens: number; updated_at: Millis };
  auth_password_resets: { token_hash: string; user_id: string; created_at: Millis; expires_at: Millis };
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against an untyped schema on purpose (they outlive the types)
type AnyDb = Kysely<any>;

export const AUTH_MIGRATIONS: Record<string, Migration> = {
  '0001_initial': {
    async up(db: AnyDb) {
      await db.schema
        .createTable('auth_users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('auth_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('auth_users.id').onDelete('cascade'))
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .addColumn('user_agent', 'text')
        .execute();
      await db.schema.createIndex('auth_sessions_user').on('auth_sessions').column('user_id').execute();
      await db.schema.createIndex('auth_sessions_expires').on('auth_sessions').column('expires_at').execute();
      await db.schema
        .createTable('auth_rooms')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('topic', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('auth_members')
        .addColumn('room_id', 'text', (c) => c.notNull().references('auth_rooms.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('auth_users.id').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('joined_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('auth_members_pk', ['room_id', 'user_id'])
        .execute();
      await db.schema.createIndex('auth_members_user').on('auth_members').column('user_id').execute();
      await db.schema
        .createTable('auth_invites')
        .addColumn('code_hash', 'text', (c) => c.primaryKey())
        .addColumn('room_id', 'text', (c) => c.notNull().references('auth_rooms.id').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('max_uses', 'integer')
        .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('expires_at', 'bigint')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('auth_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('private_jwk', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('retired_at', 'bigint')
        .execute();
      await db.schema
        .createTable('auth_throttle')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('tokens', sql`double precision`, (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0002_password_resets': {
    async up(db: AnyDb) {
      await db.schema
        .createTable('auth_password_resets')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('auth_users.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('auth_password_resets_user').on('auth_password_resets').column('user_id').execute();
    },
  },
};
