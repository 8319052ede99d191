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
import * as Y from 'yjs';
import type { PendingEvent } from '../storage/sync-store';
import { CloseError, isSyncContext, type SyncContext, TRY_AGAIN_LATER } from './context';
import { type EventRelay, roomEvents } from './events';
import type { GuardVerdict, UpdateGuard } from './guard-port';
import type { SyncMetrics } from './metrics';
import type { Persistence } from './persistence';
import type { Presence } from './presence';

/** `Y.encodeStateAsUpdate` of nothing new: no structs, no deletions. Sync step 2 often carries just this. */
export function isEmptyUpdate(update: Uint8Array): boolean {
  return update.byteLength === 2 && update[0] === 0 && update[1] === 0;
}

/**
 * Turns an update that has been applied into an empty one, in place.
 *
 * `beforeSync`'s payload is a view into the socket message Hocuspocus goes on
 * to read: once the hook resolves, its MessageReceiver applies the same bytes
 * again. Yjs integrates an update once, so that second apply changes nothing,
 * but it still decodes every struct and the delete set, a fifth of the
 * per-message work. An update starts with its number of struct groups and, after
 * them, the delete set's number of clients; with both zero the decoder stops
 * there and ignores the rest. Should the payload ever be a copy, this writes to
 * the copy and the second apply is merely the no-op it was.
 */
export function spendPayload(payload: Uint8Array): void {
  if (payload.byteLength < 2) return;
  payload[0] = 0;
  payload[1] = 0;
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
 *   2. it is applied to the document at once, in the same turn as the check, so
 *      the guard's view is always the state the update meets, and relayed to
 *      the room's other clients from memory as stock Hocuspocus does;
 *   3. it is appended to the update log with the events it implies (who is
 *      online is asked after the apply), in one group-committed transaction;
 *      the hook resolves only after the commit, and only then does Hocuspocus
 *      send the sync-status acknowledgement the provider counts
 *      `unsyncedChanges` down with (the bytes it then applies itself have been
 *      emptied, `spendPayload`: the update is in the document already);
 *   4. after the acknowledgement, its events go to the bus.
 *
 * Relaying before the commit costs no durability: an update is only ever
 * acknowledged once stored, and its author's provider keeps it until then. If
 * the append fails (or the process dies first), every connection to the
 * document is closed, the document unloads, and the author's provider sends
 * the update again on reconnecting; a receiver that already has it syncs the
 * same bytes, which Yjs integrates once. The commit therefore never sits on
 * the relay path, and a room's updates do not wait for each other's fsync:
 * each connection's next message waits only for its own.
 *
 * Updates that arrive from other instances through Redis do not pass here:
 * the instance whose client sent them stored them.
 */
export class UpdatePipeline implements Extension {
  readonly extensionName = 'confab-update-pipeline';
  private readonly accepted = new WeakMap<Connection, readonly PendingEvent[]>();

  constructor(private readonly options: UpdatePipelineOptions) {}

  async beforeSync({ connection, document, documentName, type, payload }: beforeSyncPayload): Promise<void> {
    if (type !== messageYjsSyncStep2 && type !== messageYjsUpdate) return;
    // Hocuspocus applies nothing from a read-only connection (it answers with a negative sync status).
    if (connection.readOnly) return;
    if (isEmptyUpdate(payload)) return;
    const context = connection.context;
    if (!isSyncContext(context)) throw new CloseError(CLOSE.unauthorized, 'connection without identity');
    const { persistence, metrics, logger, presence } = this.options;

    const verdict = this.check(connection, document, documentName, context, payload);
    // The log row must not share memory with the socket's message: see spendPayload below.
    const update = payload.slice();
    try {
      Y.applyUpdate(document, update, { source: 'connection', connection });
    } catch (error) {
      // The guard decoded it, so Yjs should not fail on it; if it does, nothing of it is acknowledged.
      metrics.updates.inc({ result: 'refused', rule: 'malformed_update' });
      logger.warn({ err: error, documentName, userId: context.userId }, 'update failed to apply');
      closeSocket(connection, CLOSE.forbiddenUpdate);
      throw new CloseError(CLOSE.forbiddenUpdate, 'the update could not be applied');
    }
    spendPayload(payload);
    metrics.updates.inc({ result: 'accepted', rule: '' });
    if (verdict.changes.deleted.length > 0) persistence.compactSoon(documentName);

    // Who is online is asked after the apply, so the update meets exactly the state the guard checked
    // it against (check and apply share one turn) and the answer cannot hold the relay back.
    let events: PendingEvent[] = [];
    if (context.document.kind === 'room') {
      const online =
        verdict.changes.created.length > 0
          ? await presence.online(documentName).catch(() => [context.userId])
          : ([] as readonly string[]);
      events = roomEvents(context.document.roomId, verdict.changes, online);
    }

    try {
      await persistence.append(documentName, update, events);
    } catch (error) {
      // Applied and relayed but not stored, so not acknowledged. The document's memory is now ahead of
      // its storage: close every connection to it so it unloads; the author's provider still holds the
      // update and sends it again after reconnecting, when it is stored like any other.
      metrics.updates.inc({ result: 'failed', rule: '' });
      logger.error({ err: error, documentName }, 'update could not be stored; closing the document');
      for (const other of document.getConnections()) closeSocket(other, TRY_AGAIN_LATER);
      closeSocket(connection, TRY_AGAIN_LATER);
      throw new CloseError(TRY_AGAIN_LATER, 'storage unavailable');
    }
    this.accepted.set(connection, events);
  }

  /** The guard's verdict; a refusal closes the socket and throws, so an accepted verdict is returned. */
  private check(
    connection: Connection,
    document: Y.Doc,
    documentName: string,
    context: SyncContext,
    payload: Uint8Array,
  ): GuardVerdict & { ok: true } {
    const { guard, metrics, logger } = this.options;
    let verdict: GuardVerdict;
    try {
      verdict = guard.check(document, context.document, payload, { userId: context.userId, role: context.role });
    } catch (error) {
      // A guard bug must not let an unchecked update through.
      logger.error({ err: error, documentName }, 'guard threw; refusing the update');
      verdict = { ok: false, rule: 'guard_error', detail: 'the guard failed' };
    }
    if (verdict.ok) return verdict;
    metrics.updates.inc({ result: 'refused', rule: verdict.rule });
    logger.warn(
      { documentName, userId: context.userId, rule: verdict.rule, detail: verdict.detail, bytes: payload.byteLength },
      'update refused',
    );
    closeSocket(connection, CLOSE.forbiddenUpdate);
    throw new CloseError(CLOSE.forbiddenUpdate, verdict.detail);
  }

  async afterHandleMessage({ connection }: afterHandleMessagePayload): Promise<void> {
    const events = this.accepted.get(connection);
    if (!events) return;
    this.accepted.delete(connection);
    this.options.relay.publish(events);
  }

  async beforeHandleAwareness({ states, connection }: beforeHandleAwarenessPayload): Promise<void> {
    // Only client connections carry a user; states relayed from other instances were filtered there.
    if (!connection || !isSyncContext(connection.context)) return;
    this.options.guard.filterAwareness(states, connection.context.userId, connection);
  }
}
