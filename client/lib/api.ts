import type { ErrorCode } from '@confab/protocol';

/**
 * A thin client for the CONTRACT's HTTP APIs. Expected failures (offline, 4xx)
 * are values, so screens can show why something did not work instead of a
 * spinner; only programming errors throw.
 */
export interface User {
  id: string;
  email: string;
  displayName: string;
  createdAt: string | number;
}

export type Role = 'owner' | 'member' | 'reader';

export interface Room {
  id: string;
  name: string;
  topic: string | null;
  createdAt: string | number;
  role: Role;
}

export interface Member {
  userId: string;
  displayName: string;
  role: Role;
}

export interface SessionInfo {
  id: string;
  createdAt: string | number;
  lastSeenAt: string | number;
  userAgent: string | null;
  current: boolean;
}

/** What an invite grants, looked up without using it (`GET /api/invites/:code`). */
export interface InvitePreview {
  room: { id: string; name: string; topic: string | null };
  role: 'member' | 'reader';
  expiresAt: number | null;
  usesLeft: number | null;
}

export type NotifyLevel = 'all' | 'mentions' | 'none';

export interface NotificationPreferences {
  default: NotifyLevel;
  rooms: Record<string, NotifyLevel>;
  push: boolean;
  email: boolean;
  emailDelayMinutes: number;
  quietHours: { start: string; end: string; timeZone: string } | null;
}

/** A change of preferences: any subset; in `rooms` only the rooms to change, null for "same as the default". */
export type PreferencesPatch = Partial<Omit<NotificationPreferences, 'rooms'>> & {
  rooms?: Record<string, NotifyLevel | null>;
};

export interface NotificationItem {
  id: string;
  roomId: string;
  messageId: string;
  kind: 'message' | 'mention' | 'reply';
  title: string;
  body: string;
  createdAt: string | number;
  readAt: string | number | null;
}

export interface SyncToken {
  token: string;
  expiresAt: string | number;
}

/** The auth server's password rule (10 to 256 characters), checked by the browser before it asks. */
export const MIN_PASSWORD_CHARS = 10;
export const MAX_PASSWORD_CHARS = 256;

/** `offline` means the request never reached the server. */
export type ApiFailure = {
  ok: false;
  status: number;
  code: ErrorCode | 'offline' | 'unknown';
  message: string;
  /** The request's field a 422 names. */
  field?: string;
};
export type ApiResult<T> = { ok: true; status: number; data: T } | ApiFailure;

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ApiClientOptions {
  /** Origin prefix; empty for same-origin requests from the browser. */
  baseUrl?: string;
  fetch?: FetchLike;
}

export function createApi({ baseUrl = '', fetch: fetchImpl }: ApiClientOptions = {}) {
  const doFetch: FetchLike = fetchImpl ?? ((input, init) => globalThis.fetch(input, init));

  async function call<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
    let response: Response;
    try {
      response = await doFetch(`${baseUrl}${path}`, {
        method,
        credentials: 'same-origin',
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
      });
    } catch (error) {
      return { ok: false, status: 0, code: 'offline', message: `network unavailable (${String(error)})` };
    }
    if (response.status === 204) return { ok: true, status: 204, data: undefined as T };
    let json: unknown = null;
    try {
      json = await response.json();
    } catch {
      // A proxy or the service worker may answer with HTML or nothing at all.
    }
    if (response.ok) return { ok: true, status: response.status, data: json as T };
    const error = (json as { error?: { code?: string; message?: string; field?: string } } | null)?.error;
    return {
      ok: false,
      status: response.status,
      code: (error?.code as ErrorCode | undefined) ?? 'unknown',
      message: error?.message ?? `request failed with status ${response.status}`,
      ...(typeof error?.field === 'string' ? { field: error.field } : {}),
    };
  }

  return {
    register: (body: { email: string; password: string; displayName: string }) =>
      call<{ user: User; token: string }>('POST', '/api/auth/register', body),
    login: (body: { email: string; password: string }) =>
      call<{ user: User; token: string }>('POST', '/api/auth/login', body),
    logout: () => call<void>('POST', '/api/auth/logout'),
    me: () => call<{ user: User }>('GET', '/api/auth/me'),
    updateMe: (body: { displayName: string }) => call<{ user: User }>('PATCH', '/api/auth/me', body),
    changePassword: (body: { currentPassword: string; newPassword: string }) =>
      call<{ signedOutSessions: number }>('POST', '/api/auth/password', body),
    requestPasswordReset: (body: { email: string }) =>
      call<Record<string, never>>('POST', '/api/auth/password-reset', body),
    confirmPasswordReset: (body: { token: string; newPassword: string }) =>
      call<{ user: User; token: string }>('POST', '/api/auth/password-reset/confirm', body),
    deleteAccount: (body: { password: string }) => call<void>('DELETE', '/api/auth/me', body),
    sessions: () => call<{ sessions: SessionInfo[] }>('GET', '/api/auth/sessions'),
    revokeSession: (id: string) => call<void>('DELETE', `/api/auth/sessions/${encodeURIComponent(id)}`),
    syncToken: (document: string) => call<SyncToken>('POST', '/api/auth/sync-token', { document }),
    syncTokens: (documents: string[]) =>
      call<{ tokens: Record<string, SyncToken> }>('POST', '/api/auth/sync-token', { documents }),
    rooms: () => call<{ rooms: Room[] }>('GET', '/api/rooms'),
    room: (id: string) => call<{ room: Room; members: Member[] }>('GET', `/api/rooms/${encodeURIComponent(id)}`),
    createRoom: (body: { name: string; topic?: string }) => call<{ room: Room }>('POST', '/api/rooms', body),
    updateRoom: (id: string, body: { name?: string; topic?: string }) =>
      call<{ room: Room }>('PATCH', `/api/rooms/${encodeURIComponent(id)}`, body),
    createInvite: (id: string, body: { role?: 'member' | 'reader'; maxUses?: number; expiresInSeconds?: number }) =>
      call<{ code: string; url: string }>('POST', `/api/rooms/${encodeURIComponent(id)}/invites`, body),
    previewInvite: (code: string) => call<InvitePreview>('GET', `/api/invites/${encodeURIComponent(code)}`),
    acceptInvite: (code: string) => call<{ room: Room }>('POST', `/api/invites/${encodeURIComponent(code)}/accept`),
    setMemberRole: (roomId: string, userId: string, role: Role) =>
      call<void>('PATCH', `/api/rooms/${encodeURIComponent(roomId)}/members/${encodeURIComponent(userId)}`, { role }),
    deleteRoom: (roomId: string) => call<void>('DELETE', `/api/rooms/${encodeURIComponent(roomId)}`),
    removeMember: (roomId: string, userId: string) =>
      call<void>('DELETE', `/api/rooms/${encodeURIComponent(roomId)}/members/${encodeURIComponent(userId)}`),
    notifications: (cursor?: string) =>
      call<{ items: NotificationItem[]; nextCursor: string | null }>(
        'GET',
        `/api/notifications${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`,
      ),
    markNotificationsRead: (body: { ids: string[] } | { all: true }) =>
      call<void>('POST', '/api/notifications/read', body),
    preferences: () => call<NotificationPreferences>('GET', '/api/notifications/preferences'),
    updatePreferences: (body: PreferencesPatch) =>
      call<NotificationPreferences>('PUT', '/api/notifications/preferences', body),
    vapidKey: () => call<{ key: string }>('GET', '/api/push/vapid-public-key'),
    subscribePush: (subscription: PushSubscriptionJSON) => call<void>('POST', '/api/push/subscriptions', subscription),
    unsubscribePush: (endpoint: string) => call<void>('DELETE', '/api/push/subscriptions', { endpoint }),
  };
}

export type Api = ReturnType<typeof createApi>;

/** The user-facing sentence for a failed call. */
export function describeFailure(failure: ApiFailure): string {
  if (failure.code === 'offline') return 'You are offline. Try again when the connection is back.';
  return failure.message;
}
