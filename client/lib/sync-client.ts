import {
  CLOSE,
  canPost,
  type DocumentName,
  isMembersMessage,
  PROTOCOL_VERSION,
  parseAccessMessage,
  TERMINAL_CLOSE_REASONS,
} from '@confab/protocol';
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { IndexeddbPersistence } from 'y-indexeddb';
import * as Y from 'yjs';
import { type AccountCache, idbName, pendingKey } from './account-cache';
import { addPending, type PendingState, settlePending } from './pending';
import { startTabRelay } from './tab-relay';
import type { TokenBroker } from './token-broker';
import { documentWithChanges } from './wire';

/**
 * The sync layer: one Y.Doc per document, loaded from IndexedDB first (the
 * screens render from it at once, online or not), then synced through ONE
 * shared WebSocket to the sync server (Hocuspocus providers attached to a
 * HocuspocusProviderWebsocket). Tabs relay updates to each other over a
 * BroadcastChannel so two offline tabs do not diverge.
 */
export type DocStatus =
  | { kind: 'loading' }
  // `reason` and `message`: the server said why it is not serving the room (`try_again_later`).
  | { kind: 'offline'; reason?: string; message?: string }
  | { kind: 'connecting'; reason?: string; message?: string }
  | { kind: 'synced' }
  | { kind: 'denied'; reason: string; message: string };

export type ConnectionState =
  | { kind: 'connecting' }
  | { kind: 'online' }
  | { kind: 'offline' }
  | { kind: 'signed_out'; message: string }
  | { kind: 'upgrade_required'; message: string };

/**
 * Detaches a provider whose document the server has closed or refused, without the Close message
 * `detach()` sends. The server has nothing left to close, and the message would do harm: sent on
 * the open socket, or queued while it is down and sent once it is back, it reaches a server that
 * keeps a document's messages until that document authenticates and then replays them, so it
 * closed the document's next authentication (a "Try again", or a room opened again after its
 * member was re-added) right after it succeeded, and the room never synced.
 */
function detachClosed(socket: HocuspocusProviderWebsocket, provider: HocuspocusProvider): void {
  socket.configuration.providerMap.delete(provider.effectiveName);
  provider.detach();
}

/** Close reasons that end one room for good (no retry) and leave the socket's other rooms alone. */
const ROOM_ONLY: ReadonlySet<string> = new Set([CLOSE.membershipRevoked.reason, CLOSE.roomDeleted.reason]);

/** The sentence a user reads for a close reason. Unknown reasons are shown as they are. */
export function explainClose(reason: string): string {
  switch (reason) {
    case CLOSE.sessionRevoked.reason:
      return 'You were signed out on this device (the session was revoked). Sign in again.';
    case CLOSE.membershipRevoked.reason:
      return 'You were removed from this room.';
    case CLOSE.roomDeleted.reason:
      return 'This room was deleted by an owner.';
    case CLOSE.forbidden.reason:
      return 'You do not have access to this room.';
    case CLOSE.unauthorized.reason:
      return 'Your sign-in has expired. Sign in again.';
    case CLOSE.upgradeRequired.reason:
      return 'This version of Confab is too old for the server. Reload to update the app.';
    case CLOSE.forbiddenUpdate.reason:
      return 'The server refused a change from this device (it broke a room rule).';
    case CLOSE.messageTooBig.reason:
      return 'The changes made on this device are too large to send in one piece.';
    case CLOSE.tryAgainLater.reason:
      return 'The server could not open or save this room just now; retrying. Your changes are kept here.';
    default:
      return reason;
  }
}

export interface DocHandle {
  readonly name: DocumentName;
  readonly doc: Y.Doc;
  readonly provider: HocuspocusProvider;
  /** Resolves once the IndexedDB copy is in `doc`. */
  readonly whenLoaded: Promise<void>;
  status(): DocStatus;
  unsyncedChanges(): number;
  pendingIds(): ReadonlySet<string>;
  /** Attaches a denied document again (after the user fixed what was wrong, or to try once more). */
  retry(): void;
  /** Records a message written on this device as pending until the server acknowledges it. */
  markPending(messageId: string): void;
  /**
   * Whether the server lets this connection write: its answer at
   * authentication, or the role it announced since (a role changed by an owner
   * while the room was open).
   */
  readOnly(): boolean;
  /**
   * Counts the changes of access the server announced on the open connection: this user's role
   * (`confab.access`), or the room's members (`confab.members`); either is a cue to fetch them again.
   */
  accessChanges(): number;
  /** Called on any status, pending or awareness change. */
  subscribe(listener: () => void): () => void;
  release(): void;
}

export interface SyncClientOptions {
  userId: string;
  /** Shown to others in awareness (`{user: {id, displayName}, typing}`). */
  displayName: string;
  url: string;
  tokens: TokenBroker;
  cache: AccountCache;
  /** The session is gone (revoked or expired): the app signs out locally. */
  onSignedOut?: (message: string) => void;
  WebSocketPolyfill?: unknown;
  /** Injected for tests; defaults to IndexedDB persistence. */
  persist?: (name: string, doc: Y.Doc) => { whenSynced: Promise<unknown>; destroy(): unknown };
  /** How long a released document stays open in case it is opened again. Default 15 s. */
  idleCloseMs?: number;
  /** Injected for tests; defaults to a BroadcastChannel relay. Return a stop function. */
  relay?: (doc: Y.Doc, channelName: string) => () => void;
  /**
   * How long to wait before asking again for a document the server could not open
   * (`try_again_later`), after `failures` refusals in a row. Default {@link tryAgainDelayMs}.
   */
  tryAgainDelayMs?: (failures: number) => number;
}

/** `ws(s)://<host>/sync?protocolVersion=N` for the page's origin. */
export function defaultSyncUrl(location: { protocol: string; host: string }): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/sync?protocolVersion=${PROTOCOL_VERSION}`;
}

interface Entry {
  handle: DocHandle;
  refs: number;
  idleTimer: ReturnType<typeof setTimeout> | null;
  destroy: () => void;
}

/** How many times a refused token is renewed before the document is shown as denied. */
const MAX_AUTH_RETRIES = 2;

/**
 * The wait before the next try after `failures` (1, 2, …) `try_again_later` refusals in a row: a ceiling
 * of 1 s doubling up to 30 s (the provider's own reconnect backoff: delay 1000, factor 2, maxDelay
 * 30000), of which the second half is random, so the clients an outage refused together do not all
 * come back in the same instant.
 */
export function tryAgainDelayMs(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

export function createSyncClient(options: SyncClientOptions) {
  const { userId, tokens, cache } = options;
  const idleCloseMs = options.idleCloseMs ?? 15_000;
  const delayAfter = options.tryAgainDelayMs ?? tryAgainDelayMs;
  const persist =
    options.persist ?? ((name: string, doc: Y.Doc) => new IndexeddbPersistence(name, doc) as IndexeddbPersistence);
  const relay =
    options.relay ??
    ((doc: Y.Doc, channelName: string) =>
      typeof BroadcastChannel === 'undefined' ? () => {} : startTabRelay(doc, channelName));

  const socket = new HocuspocusProviderWebsocket({
    url: options.url,
    // Reconnect quickly once the network is back; the `online` listener below also kicks it.
    maxDelay: 5000,
    ...(options.WebSocketPolyfill ? { WebSocketPolyfill: options.WebSocketPolyfill } : {}),
  });

  let connection: ConnectionState = { kind: 'connecting' };
  const connectionListeners = new Set<() => void>();
  const setConnection = (next: ConnectionState) => {
    if (connection.kind === 'signed_out' || connection.kind === 'upgrade_required') return;
    connection = next;
    for (const l of connectionListeners) l();
  };
  socket.on('status', ({ status }: { status: string }) => {
    if (status === 'connected') setConnection({ kind: 'online' });
    else if (status === 'connecting') setConnection({ kind: 'connecting' });
    else setConnection({ kind: 'offline' });
  });

  const entries = new Map<string, Entry>();

  // Every frame leaves through socket.send (queued ones too): note which document sent
  // changes, since a refusal closes the whole socket without naming the document.
  const sentChangesOf = new Map<string, () => void>();
  const rawSend = socket.send.bind(socket);
  socket.send = (message: unknown) => {
    if (message instanceof Uint8Array) {
      const document = documentWithChanges(message);
      if (document) sentChangesOf.get(document)?.();
    }
    rawSend(message);
  };

  function stopEverything(state: ConnectionState): void {
    setConnection(state);
    connection = state;
    for (const l of connectionListeners) l();
    socket.disconnect();
  }

  function handleTerminal(reason: string): boolean {
    // Terminal for one room only, not for the socket and its other rooms.
    if (!TERMINAL_CLOSE_REASONS.has(reason) || ROOM_ONLY.has(reason)) return false;
    // The socket and every provider on it report the same close: act once.
    if (connection.kind === 'signed_out' || connection.kind === 'upgrade_required') return true;
    if (reason === CLOSE.sessionRevoked.reason) {
      const message = explainClose(reason);
      stopEverything({ kind: 'signed_out', message });
      options.onSignedOut?.(message);
      return true;
    }
    if (reason === CLOSE.upgradeRequired.reason) {
      stopEverything({ kind: 'upgrade_required', message: explainClose(reason) });
      return true;
    }
    return false;
  }

  socket.on('close', ({ event }: { event: { code: number; reason: string } }) => {
    if (event?.reason) handleTerminal(event.reason);
  });

  // The browser knows about a lost network long before a WebSocket times out:
  // drop the socket at once (documents show "offline", writes stay pending)
  // and reconnect as soon as the network is back.
  const onOnline = () => {
    if (connection.kind === 'signed_out' || connection.kind === 'upgrade_required') return;
    void socket.connect();
  };
  const onOffline = () => {
    if (connection.kind === 'signed_out' || connection.kind === 'upgrade_required') return;
    socket.disconnect();
    setConnection({ kind: 'offline' });
  };
  if (typeof window !== 'undefined') {
    window.addEventListener('online', onOnline);
    window.addEventListener('offline', onOffline);
  }

  function open(name: DocumentName): DocHandle {
    const existing = entries.get(name);
    if (existing) {
      existing.refs++;
      if (existing.idleTimer) clearTimeout(existing.idleTimer);
      existing.idleTimer = null;
      return existing.handle;
    }

    const doc = new Y.Doc();
    const listeners = new Set<() => void>();
    const notify = () => {
      for (const l of listeners) l();
    };
    let status: DocStatus = { kind: 'loading' };
    const setStatus = (next: DocStatus) => {
      if (status.kind === 'denied') return;
      status = next;
      notify();
    };
    let pending: PendingState = { ids: new Set(cache.pending(userId, name)) };
    const savePending = () => cache.setPending(userId, name, [...pending.ids]);
    let authRetries = 0;
    /** `try_again_later` refusals since the document last synced, and the timer of the next try. */
    let tryAgainFailures = 0;
    let tryAgainTimer: ReturnType<typeof setTimeout> | null = null;
    const cancelTryAgain = () => {
      if (tryAgainTimer) clearTimeout(tryAgainTimer);
      tryAgainTimer = null;
    };
    /** The role the server announced on the open connection (null: its scope at authentication holds). */
    let access: { readOnly: boolean | null; changes: number } = { readOnly: null, changes: 0 };
    // Set when this document sent changes the server has not acknowledged yet: if the
    // server then refuses a change (closing the shared socket), this is the culprit.
    let sentChanges = false;
    sentChangesOf.set(name, () => {
      sentChanges = true;
    });

    const provider = new HocuspocusProvider({
      name,
      document: doc,
      websocketProvider: socket,
      token: async () => {
        const outcome = await tokens.get(name);
        if (outcome.ok) return outcome.token;
        if (outcome.reason === 'signed_out' && connection.kind !== 'signed_out') {
          const message = 'Your session has ended. Sign in again.';
          stopEverything({ kind: 'signed_out', message });
          options.onSignedOut?.(message);
        } else if (outcome.reason === 'forbidden') {
          setStatus({ kind: 'denied', reason: 'forbidden', message: explainClose('forbidden') });
        }
        throw new Error(`no sync token for ${name}: ${outcome.reason}`);
      },
      onAuthenticated: () => {
        authRetries = 0;
        // A new authentication's scope replaces what an earlier access message said.
        access = { ...access, readOnly: null };
      },
      onAuthenticationFailed: ({ reason }) => {
        if (reason.startsWith('Failed to get token')) return;
        if (reason === CLOSE.tryAgainLater.reason) {
          // The server could not load the room (its database is briefly down, say). Nothing is wrong
          // with the token or with our access: keep both, count nothing against MAX_AUTH_RETRIES, show
          // the room offline, and authenticate again later, waiting longer after each refusal. The same
          // attachment is reused, for the reason given below.
          cancelTryAgain();
          tryAgainFailures++;
          setStatus({ kind: 'offline', reason, message: explainClose(reason) });
          tryAgainTimer = setTimeout(() => {
            tryAgainTimer = null;
            if (destroyed || status.kind === 'denied' || connection.kind === 'signed_out') return;
            void provider.sendToken().then(() => {
              if (status.kind !== 'denied' && connection.kind !== 'signed_out') provider.startSync();
            });
          }, delayAfter(tryAgainFailures));
          return;
        }
        tokens.invalidate(name);
        if (handleTerminal(reason)) return;
        if (!ROOM_ONLY.has(reason) && authRetries < MAX_AUTH_RETRIES) {
          // Most likely an expired token: fetch a new one and authenticate again, on the same
          // attachment. Not detach() + attach(): detaching queues a Close for the document, and
          // Hocuspocus 4.8 replays it right after the new authentication succeeds, leaving the
          // document authenticated but closed (never synced).
          authRetries++;
          void provider.sendToken().then(() => {
            // No token to send (forbidden, signed out) already said so; a sync request would only wait unauthenticated.
            if (status.kind !== 'denied' && connection.kind !== 'signed_out') provider.startSync();
          });
          return;
        }
        setStatus({ kind: 'denied', reason, message: explainClose(reason) });
        detachClosed(socket, provider);
      },
      onClose: ({ event }) => {
        // A try pending after try_again_later: the provider authenticates again itself once the socket is back.
        cancelTryAgain();
        const reason = event?.reason ?? '';
        if (handleTerminal(reason)) return;
        if (TERMINAL_CLOSE_REASONS.has(reason) || reason === CLOSE.forbidden.reason) {
          setStatus({ kind: 'denied', reason, message: explainClose(reason) });
          detachClosed(socket, provider);
          return;
        }
        if (reason === CLOSE.unauthorized.reason) tokens.invalidate(name);
        // A change over the frame limit (1009) is refused the same way, and resent the same way.
        const tooBig = event?.code === CLOSE.messageTooBig.code || reason === CLOSE.messageTooBig.reason;
        if (reason === CLOSE.forbiddenUpdate.reason || tooBig) {
          // The server closes the whole shared socket and does not say which document broke a
          // rule: the one that sent changes not yet acknowledged did. It stays detached, so the
          // other documents reconnect instead of being closed again and again.
          if (sentChanges) {
            const why = tooBig ? CLOSE.messageTooBig.reason : reason;
            setStatus({ kind: 'denied', reason: why, message: explainClose(why) });
            detachClosed(socket, provider);
            return;
          }
        }
        // try_again_later here: an update could not be stored, and the server closed the socket; it
        // reconnects with the socket's backoff and the unacknowledged changes are sent again.
        const why = reason === CLOSE.tryAgainLater.reason ? { reason, message: explainClose(reason) } : {};
        setStatus({ kind: connection.kind === 'online' ? 'connecting' : 'offline', ...why });
      },
      onSynced: () => {
        // Re-announce presence after every (re)connect: when the old connection closed, the server
        // broadcast our removal with our current awareness clock, and y-protocols ignores a state
        // whose clock is not newer, so others would see us again only at our next presence change.
        // Setting the same state again bumps the clock.
        const awareness = provider.awareness;
        const local = awareness?.getLocalState();
        if (awareness && local) awareness.setLocalState({ ...local });
        cancelTryAgain();
        tryAgainFailures = 0;
        setStatus({ kind: 'synced' });
        pending = settlePending(pending, provider.unsyncedChanges, true);
        savePending();
        notify();
      },
      onUnsyncedChanges: ({ number }) => {
        if (number === 0) sentChanges = false;
        const before = pending.ids.size;
        pending = settlePending(pending, number, provider.isSynced);
        if (pending.ids.size !== before) savePending();
        notify();
      },
      onAwarenessChange: () => notify(),
      onStateless: ({ payload }) => {
        if (isMembersMessage(payload)) {
          // Someone else joined, left or got another role: the room's screen fetches its members again.
          access = { ...access, changes: access.changes + 1 };
          notify();
          return;
        }
        const role = parseAccessMessage(payload);
        if (role === null) return;
        const wasReadOnly = access.readOnly ?? provider.authorizedScope === 'readonly';
        access = { readOnly: !canPost(role), changes: access.changes + 1 };
        // What was written while the server took nothing from us (written offline, say, before a
        // demotion showed) is still here, counted unsynced: the server refused it and will not ask
        // for it. Now that it takes writes again, sync, and the answer to its state vector carries it.
        if (wasReadOnly && !access.readOnly && provider.unsyncedChanges > 0) provider.forceSync();
        notify();
      },
    });
    // Not attached yet (a shared socket attaches explicitly): that happens once the
    // IndexedDB copy is loaded, so the server sees our full state vector.
    provider.setAwarenessField('user', { id: userId, displayName: options.displayName });
    provider.setAwarenessField('typing', false);

    // Another tab added or settled pending messages of this document.
    const onStorage = (event: StorageEvent) => {
      if (event.key !== pendingKey(userId, name)) return;
      const stored = new Set(cache.pending(userId, name));
      // Two tabs writing at once can each overwrite the other's addition: localStorage has no
      // compare-and-set, and Chromium passes writes between tabs asynchronously. While this tab has
      // changes the server has not acknowledged, what it holds pending stays pending whatever the
      // other tab wrote, and it writes the union back so both tabs end with the same set.
      const unsettled = provider.unsyncedChanges > 0 || !provider.isSynced;
      const missing = unsettled ? [...pending.ids].filter((id) => !stored.has(id)) : [];
      for (const id of missing) stored.add(id);
      pending = { ids: stored };
      if (missing.length > 0) savePending();
      notify();
    };
    if (typeof window !== 'undefined') window.addEventListener('storage', onStorage);

    const persistence = persist(idbName(userId, name), doc);
    let stopRelay: () => void = () => {};
    let destroyed = false;
    const whenLoaded = persistence.whenSynced.then(() => {
      if (destroyed) return;
      stopRelay = relay(doc, idbName(userId, name));
      setStatus({ kind: connection.kind === 'online' ? 'connecting' : 'offline' });
      provider.attach();
    });

    const handle: DocHandle = {
      name,
      doc,
      provider,
      whenLoaded,
      status: () => status,
      unsyncedChanges: () => provider.unsyncedChanges,
      pendingIds: () => pending.ids,
      readOnly: () => access.readOnly ?? provider.authorizedScope === 'readonly',
      accessChanges: () => access.changes,
      retry() {
        if (status.kind !== 'denied') return;
        status = { kind: connection.kind === 'online' ? 'connecting' : 'offline' };
        authRetries = 0;
        cancelTryAgain();
        tryAgainFailures = 0;
        // A token from before the refusal may carry what was refused (a membership since removed).
        tokens.invalidate(name);
        notify();
        provider.attach();
      },
      markPending(messageId) {
        // Merge with what other tabs of this browser recorded: the set is shared through localStorage.
        pending = addPending({ ids: new Set([...cache.pending(userId, name), ...pending.ids]) }, messageId);
        savePending();
        notify();
      },
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      release() {
        const entry = entries.get(name);
        if (!entry) return;
        entry.refs--;
        if (entry.refs > 0) return;
        // Kept open a little: moving between the room list and a room reopens
        // the same documents at once, and closing and reattaching a document on
        // the shared socket in the same breath only costs a round of auth.
        entry.idleTimer = setTimeout(() => {
          if (entries.get(name) !== entry || entry.refs > 0) return;
          entries.delete(name);
          entry.destroy();
        }, idleCloseMs);
      },
    };
    entries.set(name, {
      handle,
      refs: 1,
      idleTimer: null,
      destroy: () => {
        destroyed = true;
        cancelTryAgain();
        sentChangesOf.delete(name);
        if (typeof window !== 'undefined') window.removeEventListener('storage', onStorage);
        stopRelay();
        provider.destroy();
        void persistence.destroy();
        doc.destroy();
      },
    });
    return handle;
  }

  return {
    open,
    connection: () => connection,
    subscribeConnection(listener: () => void): () => void {
      connectionListeners.add(listener);
      return () => connectionListeners.delete(listener);
    },
    /** Documents currently open (for tests and diagnostics). */
    openDocuments: () => [...entries.keys()],
    destroy(): void {
      if (typeof window !== 'undefined') {
        window.removeEventListener('online', onOnline);
        window.removeEventListener('offline', onOffline);
      }
      for (const entry of entries.values()) {
        if (entry.idleTimer) clearTimeout(entry.idleTimer);
        entry.destroy();
      }
      entries.clear();
      socket.destroy();
    },
  };
}

export type SyncClient = ReturnType<typeof createSyncClient>;
