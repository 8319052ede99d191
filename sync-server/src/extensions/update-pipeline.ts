import { CLOSE, type CloseEvent } from '@confab/protocol';
import type {
  afterHandleMessagePayload,
  beforeHandleAwarenessPayload,
  beforeSyncPayload,
  Connection,
  Extension,
} from '@hocuspocus/server';
import type { Logger } from 'pino';
import { messageYjsSyncStep2, messageYjsUpdate } from 'y-protocols/sync';
import type { PendingEvent } from '../storage/sync-store';
import { CloseError, isSyncContext, TRY_AGAIN_LATER } from './context';
import { type EventRelay, roomEvents } from './events';
import type { GuardVerdict, UpdateGuard } from './guard-port';
import type { SyncMetrics } from './metrics';
import type { Persistence } from './persistence';
import type { Presence } from './presence';

/** `Y.encodeStateAsUpdate` of nothing new: no structs, no deletions. Sync step 2 often carries just this. */
export function isEmptyUpdate(update: Uint8Array): boolean {
  return update.byteLength === 2 && update[0] === 0 && update[1] === 0;
}

/** Closes the whole WebSocket (every document on it) with a code the browser can see. */
export function closeSocket(connection: Connection, event: CloseEvent): void {
  try {
    connection.webSocket.close(event.code, event.reason);
  } catch {
    // already closed
  }
}

export interface UpdatePipelineOptions {
  guard: UpdateGuard;
  persistence: Persistence;
  relay: EventRelay;
  presence: Presence;
  metrics: SyncMetrics;
  logger: Logger;
}

/**
 * Every incoming change passes here BEFORE Hocuspocus applies it (the
 * `beforeSync` hook runs for sync step 2 and update messages, and the
 * MessageReceiver applies the update right after it resolves):
 *
 *   1. the guard checks it against the room as it is now; a refusal closes the
 *      socket with 4422 `forbidden_update` and the update is never applied,
 *      stored or relayed;
 *   2. it is appended to the update log with the events it implies, in one
 *      transaction; only then does Hocuspocus apply it and send the sync-status
 *      acknowledgement the provider counts `unsyncedChanges` down with;
 *   3. after it is applied, its events go to the bus.
 *
 * Per document the three steps are serialised (the lock is taken here and
 * released in afterHandleMessage), so the guard's view is the state the update
 * is applied to. Updates that arrive from other instances through Redis do
 * not pass here: the instance whose client sent them stored them.
 */
export class UpdatePipeline implements Extension {
  readonly extensionName = 'confab-update-pipeline';
  private readonly held = new WeakMap<Connection, { release: () => void; events: readonly PendingEvent[] }>();

  constructor(private readonly options: UpdatePipelineOptions) {}

  async beforeSync({ connection, document, documentName, type, payload }: beforeSyncPayload): Promise<void> {
    if (type !== messageYjsSyncStep2 && type !== messageYjsUpdate) return;
    // Hocuspocus applies nothing from a read-only connection (it answers with a negative sync status).
    if (connection.readOnly) return;
    if (isEmptyUpdate(payload)) return;
    const context = connection.context;
    if (!isSyncContext(context)) throw new CloseError(CLOSE.unauthorized, 'connection without identity');
    const { guard, persistence, metrics, logger, presence } = this.options;

    const release = await persistence.lock(documentName);
    this.held.set(connection, { release, events: [] });

    let verdict: GuardVerdict;
    try {
      verdict = guard.check(document, context.document, payload, { userId: context.userId, role: context.role });
    } catch (error) {
      // A guard bug must not let an unchecked update through.
      logger.error({ err: error, documentName }, 'guard threw; refusing the update');
      verdict = { ok: false, rule: 'guard_error', detail: 'the guard failed' };
    }
    if (!verdict.ok) {
      metrics.updates.inc({ result: 'refused', rule: verdict.rule });
      logger.warn(
        { documentName, userId: context.userId, rule: verdict.rule, detail: verdict.detail, bytes: payload.byteLength },
        'update refused',
      );
      closeSocket(connection, CLOSE.forbiddenUpdate);
      throw new CloseError(CLOSE.forbiddenUpdate, verdict.detail);
    }

    let events: PendingEvent[] = [];
    if (context.document.kind === 'room') {
      const hasCreated = verdict.changes.created.length > 0;
      const online = hasCreated ? await presence.online(documentName).catch(() => [context.userId]) : [];
      events = roomEvents(context.document.roomId, verdict.changes, online);
    }
    try {
      await persistence.append(documentName, payload, events);
    } catch (error) {
      // Not stored, so not applied and not acknowledged: the client keeps it and sends it again after reconnecting.
      metrics.updates.inc({ result: 'failed', rule: '' });
      logger.error({ err: error, documentName }, 'update could not be stored; closing the connection');
      closeSocket(connection, TRY_AGAIN_LATER);
      throw new CloseError(TRY_AGAIN_LATER, 'storage unavailable');
    }
    metrics.updates.inc({ result: 'accepted', rule: '' });
    this.held.set(connection, { release, events });
    if (verdict.changes.deleted.length > 0) persistence.compactSoon(documentName);
  }

  async afterHandleMessage({ connection }: afterHandleMessagePayload): Promise<void> {
    const held = this.held.get(connection);
    if (!held) return;
    this.held.delete(connection);
    held.release();
    this.options.relay.publish(held.events);
  }

  async beforeHandleAwareness({ states, connection }: beforeHandleAwarenessPayload): Promise<void> {
    // Only client connections carry a user; states relayed from other instances were filtered there.
    if (!connection || !isSyncContext(connection.context)) return;
    this.options.guard.filterAwareness(states, connection.context.userId, connection);
  }
}
