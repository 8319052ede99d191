'use client';

import { type RoomId, roomDocument, type UserId, userDocument } from '@confab/protocol';
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import {
  ACCOUNT_STORAGE_KEY,
  type AccountCache,
  createAccountCache,
  deleteAccountDatabases,
  idbName,
} from '../lib/account-cache';
import { type Api, createApi, type Room, type User } from '../lib/api';
import { type ConnectionState, createSyncClient, defaultSyncUrl, type SyncClient } from '../lib/sync-client';
import { createTokenBroker } from '../lib/token-broker';

/**
 * Who is signed in, their rooms and the sync client, for every screen. The
 * user and room list come from localStorage first (so an offline reload
 * knows who you are), then are refreshed from the server when it answers.
 */
interface AppState {
  ready: boolean;
  api: Api;
  cache: AccountCache | null;
  user: User | null;
  rooms: Room[];
  sync: SyncClient | null;
  connection: ConnectionState;
  /** Why the user was signed out, shown on the login screen. */
  signedOutReason: string | null;
  /** The user signed out here, on purpose: the login screen is where they go, not back to where they were. */
  signedOutOnPurpose: boolean;
  signIn(user: User): void;
  /** `onPurpose`: the user asked for it in this tab (default: when no reason is given). */
  signOut(reason?: string, onPurpose?: boolean): Promise<void>;
  refreshRooms(): Promise<void>;
  rememberRoom(room: Room): void;
  forgetRoom(roomId: string): void;
  updateUser(user: User): void;
}

const AppContext = createContext<AppState | null>(null);

/** Set when a sign-out could not reach the server; the session is ended once it can. */
const PENDING_LOGOUT_KEY = 'confab:pending-logout';
const PENDING_LOGOUT_RETRY_MS = 5_000;

export function useApp(): AppState {
  const state = useContext(AppContext);
  if (!state) throw new Error('useApp outside <AppProvider>');
  return state;
}

export function AppProvider({ children }: { children: ReactNode }) {
  const api = useMemo(() => createApi(), []);
  const [cache, setCache] = useState<AccountCache | null>(null);
  const [user, setUser] = useState<User | null>(null);
  const [rooms, setRooms] = useState<Room[]>([]);
  const [ready, setReady] = useState(false);
  const [sync, setSync] = useState<SyncClient | null>(null);
  const [connection, setConnection] = useState<ConnectionState>({ kind: 'connecting' });
  const [signedOutReason, setSignedOutReason] = useState<string | null>(null);
  const [signedOutOnPurpose, setSignedOutOnPurpose] = useState(false);

  useEffect(() => {
    const c = createAccountCache(window.localStorage);
    const cached = c.user();
    setCache(c);
    setUser(cached);
    setRooms(cached ? c.rooms(cached.id) : []);
    setReady(true);
    // Another tab signed in or out: follow it, so a signed-out account is not kept
    // alive (and its IndexedDB written again) by a tab that did not hear about it.
    const onStorage = (event: StorageEvent) => {
      if (event.key !== ACCOUNT_STORAGE_KEY) return;
      const next = c.user();
      setUser((current) => (current?.id === next?.id ? current : next));
      setRooms(next ? c.rooms(next.id) : []);
      if (!next) setSignedOutReason('You signed out in another tab.');
    };
    window.addEventListener('storage', onStorage);
    const finishLogout = () => {
      if (!localStorage.getItem(PENDING_LOGOUT_KEY) || c.user()) return;
      void api.logout().then((result) => {
        if (result.ok || result.code !== 'offline') localStorage.removeItem(PENDING_LOGOUT_KEY);
      });
    };
    finishLogout();
    window.addEventListener('online', finishLogout);
    // The `online` event alone is not enough: it can fire while the page is still loading (a sign-out made
    // offline lands on a freshly loaded /login), or never (a network that comes back without the browser
    // noticing). While a sign-out waits, try again every few seconds; without one this does nothing.
    const retry = setInterval(finishLogout, PENDING_LOGOUT_RETRY_MS);
    return () => {
      window.removeEventListener('storage', onStorage);
      window.removeEventListener('online', finishLogout);
      clearInterval(retry);
    };
  }, [api]);

  // Set from the moment someone signs out on purpose until someone signs in again.
  const signingOutOnPurpose = useRef(false);
  useEffect(() => {
    if (user) signingOutOnPurpose.current = false;
  }, [user]);

  /** Everything this device keeps of an account: its cached profile and rooms, its rooms' local copies. */
  const forgetLocally = useCallback(
    async (userId: string) => {
      if (!cache) return;
      cache.clearAccount(userId);
      // The sync client (and its IndexedDB handles) is torn down by the effect below before deletion completes.
      await new Promise((r) => setTimeout(r, 0));
      await deleteAccountDatabases(indexedDB, userId).catch(() => []);
      // Older workers cached API answers ("apis"); none may outlive the account on this device.
      await globalThis.caches?.delete('apis').catch(() => false);
    },
    [cache],
  );

  const signOut = useCallback(
    async (reason?: string, onPurpose = reason === undefined) => {
      // Signing out ends the session on the server, and the sync socket (closed as revoked) or an API
      // call (401) can report that before the logout call returns. That echo is not a second, involuntary
      // sign-out: it must not replace "signed out on purpose" (the plain login screen) with "your
      // session has ended" and a way back to the page the user left.
      if (!onPurpose && signingOutOnPurpose.current) return;
      if (onPurpose) signingOutOnPurpose.current = true;
      const current = user;
      setSignedOutReason(reason ?? null);
      setSignedOutOnPurpose(onPurpose);
      if (!reason) {
        const result = await api.logout();
        // Offline, the server never heard it: the session cookie (HttpOnly, out of our reach)
        // would stay valid. Remember to end the session the next time the app is online.
        if (!result.ok && result.code === 'offline') localStorage.setItem(PENDING_LOGOUT_KEY, '1');
      }
      setUser(null);
      setRooms([]);
      if (current) await forgetLocally(current.id);
    },
    [api, user, forgetLocally],
  );

  // One sync client (one WebSocket) per signed-in account.
  const signedInAs = useRef<string | null>(null);
  signedInAs.current = user?.id ?? null;
  // biome-ignore lint/correctness/useExhaustiveDependencies: the client depends only on who is signed in
  useEffect(() => {
    if (!user || !cache) {
      setSync(null);
      return;
    }
    const tokens = createTokenBroker({ fetchOne: api.syncToken, fetchMany: api.syncTokens });
    const client = createSyncClient({
      userId: user.id,
      displayName: user.displayName,
      url: process.env.NEXT_PUBLIC_SYNC_URL || defaultSyncUrl(window.location),
      tokens,
      cache,
      // Only while this account is still the one signed in: signing in as someone else ends this
      // account's session, and its socket may hear of that before this client is torn down.
      onSignedOut: (message) => {
        if (signedInAs.current === user.id) void signOut(message);
      },
    });
    setSync(client);
    setConnection(client.connection());
    const unsubscribe = client.subscribeConnection(() => setConnection(client.connection()));
    // The private document carries drafts; keep it open (and synced) while signed in.
    const userDoc = client.open(userDocument(user.id as UserId));
    return () => {
      unsubscribe();
      userDoc.release();
      client.destroy();
    };
  }, [user?.id, cache, api]);

  const refreshRooms = useCallback(async () => {
    if (!user || !cache) return;
    const result = await api.rooms();
    if (result.ok) {
      cache.setRooms(user.id, result.data.rooms);
      setRooms(result.data.rooms);
    } else if (result.status === 401) {
      await signOut('Your session has ended. Sign in again.');
    }
  }, [api, cache, user, signOut]);

  // Confirm the cached session with the server when it is reachable.
  // biome-ignore lint/correctness/useExhaustiveDependencies: once per signed-in account
  useEffect(() => {
    if (!user) return;
    let cancelled = false;
    void api.me().then((result) => {
      if (cancelled) return;
      if (result.ok) {
        cache?.setUser(result.data.user);
        if (result.data.user.displayName !== user.displayName) setUser(result.data.user);
      } else if (result.status === 401) void signOut('Your session has ended. Sign in again.');
    });
    void refreshRooms();
    return () => {
      cancelled = true;
    };
  }, [user?.id]);

  const value: AppState = {
    ready,
    api,
    cache,
    user,
    rooms,
    sync,
    connection,
    signedOutReason,
    signedOutOnPurpose,
    signIn(next) {
      // A new session replaced the cookie: an old sign-out still waiting must not end it.
      localStorage.removeItem(PENDING_LOGOUT_KEY);
      cache?.setUser(next);
      setSignedOutReason(null);
      setSignedOutOnPurpose(false);
      setUser(next);
      signedInAs.current = next.id;
      setRooms(cache?.rooms(next.id) ?? []);
      // Someone else was signed in here (a reset link opened on a shared computer): the server ended
      // their session with the cookie it replaced, and this device keeps nothing of theirs either.
      if (user && user.id !== next.id) void forgetLocally(user.id);
    },
    signOut,
    refreshRooms,
    rememberRoom(room) {
      if (!user || !cache) return;
      cache.upsertRoom(user.id, room);
      setRooms(cache.rooms(user.id));
    },
    forgetRoom(roomId) {
      if (!user || !cache) return;
      cache.removeRoom(user.id, roomId);
      setRooms(cache.rooms(user.id));
      // The room's local copy goes too (deletion completes once its document handle closes).
      indexedDB.deleteDatabase(idbName(user.id, roomDocument(roomId as RoomId)));
    },
    updateUser(next) {
      cache?.setUser(next);
      setUser(next);
    },
  };
  return <AppContext.Provider value={value}>{children}</AppContext.Provider>;
}
