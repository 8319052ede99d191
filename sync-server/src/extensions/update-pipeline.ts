import { CLOSE, type CloseEvent } from '@confab/protocol';
import {
  type beforeHandleAwarenessPayload,
  type beforeSyncPayload,
  type Connection,
  type Document,
  type Extension,
  type LocalTransactionOrigin,
  OutgoingMessage,
} from '@hocuspocus/server';
import type { Logger } from 'pino';
import { messageYjsSyncStep2, messageYjsUpdate } from 'y-protocols/sync';
import * as Y from 'yjs';
import type { PendingEvent } from '../storage/sync-store';
import { CloseError, isSyncContext, type SyncContext } from './context';
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
 * but it still decodes every struct and the delete set (4% of the event loop's
 * busy time in a profile at 56,600 deliveries/s, rooms of 10). An update starts with its number of struct groups and, after
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
  /** Updates of one connection that may wait for a resync (see resync). Default MAX_DEFERRED_UPDATES. */
  maxDeferredUpdates?: number;
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
 *      online is asked after the apply), in one group-committed transaction,
 *      and the hook resolves without waiting for the commit, so the
 *      connection's next message is handled meanwhile (Hocuspocus does not
 *      apply it again: an update message is skipped, `skipApply`, and a sync
 *      step 2's bytes are emptied, `spendPayload`);
 *   4. the sync-status acknowledgement the provider counts `unsyncedChanges`
 *      down with goes out only once the commit is done (`Acknowledgements`:
 *      the one Hocuspocus sends right after the hook is held back, and sent
 *      after the commit instead), then the events go to the bus.
 *
 * Relaying before the commit costs no durability: an update is only ever
 * acknowledged once stored, and its author's provider keeps it until then. If
 * the append fails (or the process dies first), every connection to the
 * document is closed, the document unloads, and the author's provider sends
 * the update again on reconnecting; a receiver that already has it syncs the
 * same bytes, which Yjs integrates once. The commit therefore never sits on
 * the relay path, and no message waits for another's fsync: a connection may
 * have up to IN_FLIGHT_UPDATES (or IN_FLIGHT_BYTES) updates committing at once,
 * and only beyond that does its next message wait for the oldest commit.
 *
 * Updates that arrive from other instances through Redis do not pass here:
 * the instance whose client sent them stored them.
 */
export class UpdatePipeline implements Extension {
  readonly extensionName = 'confab-update-pipeline';
  private readonly acknowledgements = new Acknowledgements();
  private readonly lost = new LostClients();

  constructor(private readonly options: UpdatePipelineOptions) {}

  async beforeSync({ connection, document, documentName, type, payload }: beforeSyncPayload): Promise<void> {
    if (type !== messageYjsSyncStep2 && type !== messageYjsUpdate) return;
    const acks = this.acknowledgements.of(connection);
    // The previous message's skipped apply (see skipApply) is over: its status went out before this one.
    acks.endSkip();
    // Hocuspocus applies nothing from a read-only connection (it answers with a negative sync status).
    if (connection.readOnly) return;
    // The client's answer to a resync (see resync): the changes the deferred updates built on, and theirs.
    const resyncAnswer = type === messageYjsSyncStep2 && acks.awaitingResync;
    if (resyncAnswer) acks.awaitingResync = false;
    if (isEmptyUpdate(payload)) {
      if (resyncAnswer) {
        // The server has it all already (it came another way): acknowledge the deferred updates once
        // what this connection has committing is committed, and not the answer, which the client never counted.
        acks.holdNext();
        const owed = acks.takeOwed();
        void acks.settled().then(() => acks.send(owed));
      }
      return;
    }
    const context = connection.context;
    if (!isSyncContext(context)) throw new CloseError(CLOSE.unauthorized, 'connection without identity');
    const { persistence, metrics, logger, presence } = this.options;

    // A catch-up may carry other users' changes that this client got from memory and the server then
    // lost (a failed commit, a crash): not the sender's to send. It goes on without them (ownPart).
    const incoming =
      type === messageYjsSyncStep2 && this.options.guard.ownPart
        ? this.options.guard.ownPart(
            document,
            context.document,
            payload,
            { userId: context.userId, role: context.role },
            this.lost.of(documentName),
          )
        : payload;
    const trimmed = incoming !== payload;
    if (trimmed) {
      metrics.updates.inc({ result: 'trimmed', rule: 'others_changes' });
      logger.info(
        { documentName, userId: context.userId },
        "a catch-up carried other users' unstored changes; left out",
      );
    }
    const verdict = this.check(connection, document, documentName, context, incoming, acks, trimmed);
    if (verdict === RESYNC) {
      this.resync(connection, document, payload, acks);
      return;
    }
    if (verdict === AWAIT_OTHERS) {
      this.awaitOthers(connection, document, payload, acks);
      return;
    }
    // A resync's answer is not an update the client counted: its commit acknowledges the deferred ones.
    const acknowledges = resyncAnswer ? acks.takeOwed() : 1;
    // The log row must not share memory with the socket's message: see spendPayload below.
    const update = trimmed ? incoming : payload.slice();
    try {
      Y.applyUpdate(document, update, APPLIED_ORIGIN);
    } catch (error) {
      // The guard checked it, so Yjs should not fail on it. If it does (a hole in the guard), Yjs may have
      // integrated part of it already, and relayed that part: the document's memory is ahead of its log.
      // Nothing of it is acknowledged, and every connection closes so that the document unloads, as when
      // a store fails; the others reconnect and meet the document as stored.
      metrics.updates.inc({ result: 'refused', rule: 'malformed_update' });
      logger.error(
        { err: error, documentName, userId: context.userId },
        'update failed to apply; closing the document',
      );
      for (const other of document.getConnections()) {
        if (other !== connection) closeSocket(other, CLOSE.tryAgainLater);
      }
      closeSocket(connection, CLOSE.forbiddenUpdate);
      throw new CloseError(CLOSE.forbiddenUpdate, 'the update could not be applied');
    }
    // Sync step 2 (a connection's first sync, a resync's answer) is rare: its bytes are emptied. An update
    // message is the hot path: Hocuspocus is told to skip its apply altogether (skipApply, below).
    if (type === messageYjsSyncStep2) spendPayload(payload);
    metrics.accepted();
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

    const retired = verdict.changes.deleted.map((d) => d.messageId);
    const committed = persistence.append(documentName, update, events, retired).then(
      () => {
        acks.send(acknowledges);
        this.options.relay.publish(events);
      },
      (error: unknown) => {
        // Applied and relayed but not stored, so never acknowledged. The document's memory is now ahead
        // of its storage: close every connection to it so it unloads; the author's provider still holds
        // the update and sends it again after reconnecting, when it is stored like any other.
        metrics.updates.inc({ result: 'failed', rule: '' });
        logger.error({ err: error, documentName }, 'update could not be stored; closing the document');
        // Later updates of this connection may still commit, but they may build on this one: none of them
        // is acknowledged either, so the provider sends them all again, this one first.
        acks.fail();
        // Those who got it from memory may offer it back before its author does: whose it was.
        this.lost.remember(documentName, update, context.userId);
        for (const other of document.getConnections()) closeSocket(other, CLOSE.tryAgainLater);
        closeSocket(connection, CLOSE.tryAgainLater);
      },
    );
    // From here the hook resolves normally, so Hocuspocus sends its acknowledgement now: hold it back.
    acks.holdNext();
    await acks.track(committed, update.byteLength);
    if (type === messageYjsUpdate) acks.skipApply(context);
  }

  /**
   * An update that builds on changes this server does not have. A provider's updates are a chain:
   * when the server dropped one of them (the messages queued behind a closed connection, a refused
   * one), every later update of that client depends on it, and the provider sends them as they come
   * until its sync answers the server's. Yjs would keep such an update pending; the guard cannot
   * check it, and closing the socket sent the client into the same state on every reconnect while
   * it kept writing (the web client then gave up on the room). So it is not applied, its
   * acknowledgement is held, and the client is sent the server's state vector (sync step 1): its
   * answer (sync step 2) carries everything the server lacks, the deferred updates included, and is
   * checked, applied and stored like any update; its commit acknowledges the deferred ones. At most
   * `maxDeferredUpdates` wait so (deferredUpdateBound); beyond that the connection is refused as before.
   */
  private resync(connection: Connection, document: Document, payload: Uint8Array, acks: ConnectionAcks): void {
    // Hocuspocus applies the payload after this hook: emptied, nothing of it lands.
    spendPayload(payload);
    acks.defer();
    this.options.metrics.updates.inc({ result: 'deferred', rule: 'missing_dependencies' });
    askToSync(connection, document, acks);
  }

  /**
   * A catch-up whose own changes build on other users' changes that it had to leave out (ownPart):
   * a resync cannot bring them (the client would offer them again), their authors will. Nothing of
   * it is applied and the deferred updates stay unacknowledged; the next change to the document
   * (the authors' changes arriving, or anyone's) asks the client to sync again.
   */
  private awaitOthers(connection: Connection, document: Document, payload: Uint8Array, acks: ConnectionAcks): void {
    // Hocuspocus applies the emptied payload after this hook and answers with a positive status, which
    // the provider would take for the acknowledgement of an update still waiting: hold it back.
    spendPayload(payload);
    acks.holdNext();
    this.options.metrics.updates.inc({ result: 'deferred', rule: 'others_changes' });
    if (acks.awaitingOthers) return;
    acks.awaitingOthers = true;
    document.once('update', () => {
      acks.awaitingOthers = false;
      if (document.hasConnection(connection)) askToSync(connection, document, acks);
    });
  }

  /**
   * The guard's verdict. An update missing its dependencies asks for a resync (RESYNC) while the
   * connection is within its bound, or, in a catch-up that left other users' changes out (`trimmed`),
   * waits for them (AWAIT_OTHERS); any other refusal closes the socket and throws.
   */
  private check(
    connection: Connection,
    document: Y.Doc,
    documentName: string,
    context: SyncContext,
    payload: Uint8Array,
    acks: ConnectionAcks,
    trimmed = false,
  ): (GuardVerdict & { ok: true }) | typeof RESYNC | typeof AWAIT_OTHERS {
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
    if (trimmed && verdict.rule === 'missing_dependencies') return AWAIT_OTHERS;
    const maxDeferred = this.options.maxDeferredUpdates ?? MAX_DEFERRED_UPDATES;
    if (verdict.rule === 'missing_dependencies' && acks.deferred < maxDeferred) return RESYNC;
    metrics.updates.inc({ result: 'refused', rule: verdict.rule });
    logger.warn(
      { documentName, userId: context.userId, rule: verdict.rule, detail: verdict.detail, bytes: payload.byteLength },
      'update refused',
    );
    closeSocket(connection, CLOSE.forbiddenUpdate);
    throw new CloseError(CLOSE.forbiddenUpdate, verdict.detail);
  }

  async beforeHandleAwareness({ states, connection }: beforeHandleAwarenessPayload): Promise<void> {
    // Only client connections carry a user; states relayed from other instances were filtered there.
    if (!connection || !isSyncContext(connection.context)) return;
    this.options.guard.filterAwareness(states, connection.context.userId, connection);
  }
}

/**
 * The transaction origin of the pipeline's apply. Hocuspocus answers an update of a `connection` origin
 * with its store hooks (onStoreDocument, debounced: a timer reset per update) and a parse of the
 * connection's query string for onChange's payload; Confab stores through its own log and has no such
 * hook, so the update is applied as a local change that skips them (4% of the event loop at 40,000
 * deliveries/s). Broadcasting, the Redis extension's publishing and unloading do not depend on it.
 */
const APPLIED_ORIGIN: LocalTransactionOrigin = { source: 'local', skipStoreHooks: true };

/** Updates of one connection that may wait, unapplied, for the resync that brings what they build on. */
export const MAX_DEFERRED_UPDATES = 64;

/**
 * How many updates of one connection may wait for a resync, given the rate limiter's burst: a
 * reconnecting provider sends what the app wrote meanwhile, one message per change, as soon as the
 * socket opens, and every one of them builds on the updates the closed connection dropped. Up to a
 * burst of them pass the rate limiter, so at least that many must be able to wait; a bound below it
 * refused a fast writer coming back from a 4429 (seen by hand: a 90-byte update, the 65th, closed
 * with forbidden_update about a second after the reconnect). The bound still ends a connection that
 * never answers.
 */
export function deferredUpdateBound(burst: number): number {
  return Math.max(MAX_DEFERRED_UPDATES, burst);
}
/**
 * Who wrote the updates this server applied and relayed but failed to store, by Yjs client, per
 * document, for a while (in memory: a crash forgets them). A client's first update may be among
 * them, and then the reloaded document cannot say whose client it is; without this, a member who
 * got it from memory and reconnected first would be refused for offering another's change.
 */
export class LostClients {
  private readonly byDocument = new Map<string, { owners: Map<number, string>; until: number }>();

  constructor(
    private readonly keepMs = 10 * 60_000,
    private readonly maxDocuments = 1000,
    private readonly maxClients = 64,
    private readonly now: () => number = Date.now,
  ) {}

  remember(documentName: string, update: Uint8Array, userId: string): void {
    let entry = this.byDocument.get(documentName);
    if (!entry) {
      if (this.byDocument.size >= this.maxDocuments) {
        const oldest = this.byDocument.keys().next().value as string;
        this.byDocument.delete(oldest);
      }
      entry = { owners: new Map(), until: 0 };
      this.byDocument.set(documentName, entry);
    }
    entry.until = this.now() + this.keepMs;
    for (const client of Y.parseUpdateMeta(update).from.keys()) {
      if (entry.owners.size >= this.maxClients && !entry.owners.has(client)) break;
      entry.owners.set(client, userId);
    }
  }

  of(documentName: string): ReadonlyMap<number, string> | undefined {
    const entry = this.byDocument.get(documentName);
    if (!entry) return undefined;
    if (entry.until <= this.now()) {
      this.byDocument.delete(documentName);
      return undefined;
    }
    return entry.owners;
  }
}

/** Sends the connection the document's state vector (sync step 1), unless an answer to one is awaited. */
function askToSync(connection: Connection, document: Document, acks: ConnectionAcks): void {
  if (acks.awaitingResync) return;
  acks.awaitingResync = true;
  connection.send(
    new OutgoingMessage(connection.messageAddress).createSyncMessage().writeFirstSyncStepFor(document).toUint8Array(),
  );
}

const RESYNC = Symbol('resync');
const AWAIT_OTHERS = Symbol('await-others');

/** Updates of one connection that may be committing at once before its next message waits for the oldest. */
export const IN_FLIGHT_UPDATES = 32;
/** Bytes of such updates, the same bound for large ones (a message is at most 1 MiB). */
export const IN_FLIGHT_BYTES = 1 << 20;

/**
 * The sync-status acknowledgements of each connection, sent by Confab once an
 * update is committed instead of by Hocuspocus once the hook resolves.
 *
 * Hocuspocus answers every applied update with `SyncStatus(true)` through
 * `connection.send`, right after `beforeSync` resolves. The pipeline lets the
 * hook resolve before the commit (so the connection's next message is not
 * held up by this one's fsync), so that acknowledgement would come too early.
 * `holdNext` counts one to swallow: while the count is positive, the
 * connection's `send` is wrapped and drops a message equal to the
 * acknowledgement's bytes. The wrapper is taken off once the count is back
 * to zero (right after Hocuspocus's acknowledgement, a few microtasks after
 * the hook), so the room's broadcasts, 50 sends per update in a room of 50,
 * never pass through it. `send` writes one after the commit. The provider only
 * counts acknowledgements, and commits complete in the order of the appends, so
 * the author sees the same sequence as before, each after its commit.
 */
class Acknowledgements {
  private readonly states = new WeakMap<Connection, ConnectionAcks>();

  of(connection: Connection): ConnectionAcks {
    let state = this.states.get(connection);
    if (!state) {
      state = new ConnectionAcks(connection);
      this.states.set(connection, state);
    }
    return state;
  }
}

/** One connection's acknowledgements (see Acknowledgements); exported for its tests. */
export class ConnectionAcks {
  private readonly ack: Uint8Array;
  /** The negative sync status Hocuspocus answers an update of a read-only connection with (see skipApply). */
  private readonly refusal: Uint8Array;
  /** skipApply's role to restore `readOnly` from, while the connection is marked read-only for one message. */
  private skipping: SyncContext | null = null;
  /** The connection's own `send` (Hocuspocus's), which the wrapper calls and which comes back after it. */
  private readonly sendNow: (message: Uint8Array) => void;
  private readonly restoreSend: () => void;
  private held = 0;
  private failed = false;
  /** Deferred updates (see UpdatePipeline.resync) whose acknowledgements the resync's answer owes. */
  private owed = 0;
  /** A sync step 1 went out for deferred updates and its answer has not come yet. */
  awaitingResync = false;
  /** Its catch-up builds on other users' changes it had to leave out: resync at the document's next change. */
  awaitingOthers = false;
  private readonly inFlight: Array<{ done: Promise<void>; bytes: number }> = [];
  private inFlightBytes = 0;

  constructor(private readonly connection: Connection) {
    this.ack = new OutgoingMessage(connection.messageAddress).writeSyncStatus(true).toUint8Array();
    this.refusal = new OutgoingMessage(connection.messageAddress).writeSyncStatus(false).toUint8Array();
    this.sendNow = connection.send.bind(connection);
    const own = Object.getOwnPropertyDescriptor(connection, 'send');
    this.restoreSend = own
      ? () => Object.defineProperty(connection, 'send', own)
      : () => delete (connection as { send?: unknown }).send;
  }

  /** The next acknowledgement Hocuspocus sends on this connection is one Confab sends after the commit. */
  holdNext(): void {
    this.held += 1;
    if (this.held === 1) this.connection.send = this.swallowingSend;
  }

  private readonly swallowingSend = (message: Uint8Array): void => {
    if (
      this.held > 0 &&
      (sameBytes(message, this.ack) || (this.skipping !== null && sameBytes(message, this.refusal)))
    ) {
      this.held -= 1;
      if (this.held === 0) this.restoreSend();
      this.endSkip();
      return;
    }
    this.sendNow(message);
  };

  /**
   * The update message this hook has applied itself needs no second apply by Hocuspocus. Emptying its
   * bytes (spendPayload) still cost a Yjs transaction per update (two state vectors of the document, its
   * observers, the cleanup: 5% of the event loop at 24,000 deliveries/s on PostgreSQL); marking the
   * connection read-only until Hocuspocus has answered skips it: for an update of a read-only connection
   * Hocuspocus applies nothing and sends a negative sync status, which is held like its acknowledgement
   * (holdNext), and `readOnly` is back as the role says once that status has gone by (or, at the latest,
   * when the connection's next message comes: Hocuspocus handles one message of a connection at a time).
   * Restoring from the role, not the old value, keeps a revocation's downgrade that lands meanwhile.
   */
  skipApply(context: SyncContext): void {
    this.skipping = context;
    this.connection.readOnly = true;
  }

  endSkip(): void {
    if (this.skipping === null) return;
    this.connection.readOnly = this.skipping.role === 'reader';
    this.skipping = null;
  }

  /** The acknowledgements of committed updates (a closed socket just drops them). */
  send(count = 1): void {
    for (let i = 0; i < count && !this.failed; i++) this.sendNow(this.ack);
  }

  /** An update left unapplied until a resync: Hocuspocus's acknowledgement of it is held, and owed. */
  defer(): void {
    this.holdNext();
    this.owed += 1;
  }

  get deferred(): number {
    return this.owed;
  }

  takeOwed(): number {
    const owed = this.owed;
    this.owed = 0;
    return owed;
  }

  /** Resolves once every append of this connection in flight now has committed or failed. */
  async settled(): Promise<void> {
    await Promise.allSettled(this.inFlight.map((entry) => entry.done));
  }

  /** An append of this connection failed: acknowledge nothing more on it (it is being closed). */
  fail(): void {
    this.failed = true;
  }

  /** Counts an append in flight; resolves at once while the connection is within its bounds, else after the oldest. */
  async track(done: Promise<void>, bytes: number): Promise<void> {
    const entry = { done, bytes };
    this.inFlight.push(entry);
    this.inFlightBytes += bytes;
    void done.then(() => {
      this.inFlight.splice(this.inFlight.indexOf(entry), 1);
      this.inFlightBytes -= bytes;
    });
    while (this.inFlight.length > IN_FLIGHT_UPDATES || this.inFlightBytes > IN_FLIGHT_BYTES) {
      await this.inFlight[0]?.done;
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
