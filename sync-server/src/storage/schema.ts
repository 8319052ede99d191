import { blobType, type DatabaseKind } from '@confab/platform';
import type { Generated, Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * The sync server's tables (all prefixed `sync_` so they can share a database
 * with the other services in the all-in-one process).
 *
 * - `sync_updates`: the append-only update log. One row per accepted client
 *   update, written before the update is acknowledged.
 * - `sync_snapshots`: one merged state per document; compaction folds log rows
 *   into it and deletes exactly the rows it folded.
 * - `sync_pending_events`: bus events derived from an update, written in the
 *   same transaction as its log row and deleted once the bus has them.
 * - `sync_retired_messages`: the id of every message deleted from a room,
 *   written with the update that deleted it (004). Yjs keeps nothing of a
 *   deleted message once it is folded into a snapshot, so this is how a room
 *   loaded later knows the id was used and refuses a new message taking it
 *   (reactions, replies and read markers address messages by id).
 * - `sync_checkpoints`: one row the merge thread rewrites after a complete
 *   checkpoint of SQLite's WAL, so that it, not the event loop, starts the
 *   WAL over (003; unused on PostgreSQL).
 * - `sync_revocations`: sessions and (user, room) pairs whose older tokens are
 *   refused, until the last such token has expired; for a membership, the
 *   role the latest change set (002), so only tokens granting more are refused.
 */
export interface SyncTables {
  sync_updates: {
    seq: Generated<number | string>;
    document: string;
    update: Uint8Array;
    bytes: number;
    created_at: number | string;
  };
  sync_snapshots: {
    document: string;
    state: Uint8Array;
    bytes: number;
    /** Random per write: a compaction commits only if the snapshot it merged into is still the current one. */
    generation: string;
    updated_at: number | string;
  };
  sync_pending_events: {
    id: string;
    document: string;
    subject: string;
    payload: string;
    created_at: number | string;
  };
  sync_revocations: {
    kind: string;
    subject: string;
    /** Membership rows: the role the latest change set, null = removed (and rows from before 002). */
    role: string | null;
    revoked_at: number | string;
    expires_at: number | string;
  };
  /** Ids of messages deleted from a document (004). */
  sync_retired_messages: {
    document: string;
    message_id: string;
  };
  /** SQLite: the time of the last complete checkpoint of the WAL, written by the merge thread (003). */
  sync_checkpoints: {
    id: number;
    at: number | string;
  };
}

export const MIGRATION_TABLE = 'sync';

export function syncMigrations(kind: DatabaseKind): Record<string, Migration> {
  const blob = blobType(kind);
  return {
    '001_update_log': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('sync_updates')
          .addColumn('seq', kind === 'postgres' ? 'bigserial' : 'integer', (c) =>
            kind === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('document', 'text', (c) => c.notNull())
          .addColumn('update', blob, (c) => c.notNull())
          .addColumn('bytes', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('sync_updates_document_seq')
          .on('sync_updates')
          .columns(['document', 'seq'])
          .execute();
        await db.schema
          .createTable('sync_snapshots')
          .addColumn('document', 'text', (c) => c.primaryKey())
          .addColumn('state', blob, (c) => c.notNull())
          .addColumn('bytes', 'integer', (c) => c.notNull())
          .addColumn('generation', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('sync_pending_events')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('document', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('sync_pending_events_created_at')
          .on('sync_pending_events')
          .column('created_at')
          .execute();
        await db.schema
          .createTable('sync_revocations')
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('sync_revocations_pk', ['kind', 'subject'])
          .execute();
      },
    },
    '002_revocation_role': {
      async up(db: Kysely<unknown>) {
        // Nullable: rows written before it were removals or demotions to reader; null (removed) refuses as they did.
        await db.schema.alterTable('sync_revocations').addColumn('role', 'text').execute();
      },
    },
    '003_checkpoints': {
      async up(db: Kysely<unknown>) {
        // One row, rewritten by the merge thread after a complete checkpoint of SQLite's WAL (merge-worker.ts).
        await db.schema
          .createTable('sync_checkpoints')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '004_retired_messages': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('sync_retired_messages')
          .addColumn('document', 'text', (c) => c.notNull())
          .addColumn('message_id', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('sync_retired_messages_pk', ['document', 'message_id'])
          .execute();
      },
    },
  };
}
