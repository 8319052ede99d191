import type { Directory, DirectoryMember, DirectoryUser, SessionInfo, SessionVerifier } from './ports';

/**
 * The SessionVerifier and Directory ports over auth-server's internal HTTP
 * endpoints, for services that run as separate processes (AUTH_URL). Every
 * call carries `Authorization: Bearer <INTERNAL_API_TOKEN>`. An answer other
 * than the documented ones (auth-server down, 5xx, a wrong internal token)
 * throws an AuthClientError: "could not ask" is not "no such session".
 */
export class AuthClientError extends Error {
  override readonly name = 'AuthClientError';
}

export interface AuthClientOptions {
  /** Injected for tests; the global fetch by default. */
  fetch?: typeof fetch;
  /** Per-request timeout. Default 5 s. */
  timeoutMs?: number;
}

export interface SessionVerifierOptions extends AuthClientOptions {
  /**
   * How long a positive answer is reused. A signed-out session can therefore
   * keep working for up to this long in other processes (the sync server also
   * closes its connections on `confab.auth.session.revoked`). Default 5 s.
   */
  cacheMs?: number;
  /** Entries kept at most; the oldest go first. Default 10,000. */
  maxEntries?: number;
  clock?: () => number;
}

function client(authUrl: string, internalToken: string, options: AuthClientOptions) {
  const base = authUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 5000;
  return async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    let response: Response;
    try {
      response = await doFetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${internalToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (cause) {
      throw new AuthClientError(`auth-server unreachable at ${base}`, { cause });
    }
    const json = response.status === 204 ? null : await response.json().catch(() => null);
    return { status: response.status, json };
  };
}

function unexpected(path: string, status: number): AuthClientError {
  return new AuthClientError(`auth-server answered ${status} to ${path}`);
}

export function createHttpSessionVerifier(
  authUrl: string,
  internalToken: string,
  options: SessionVerifierOptions = {},
): SessionVerifier {
  const call = client(authUrl, internalToken, options);
  const cacheMs = options.cacheMs ?? 5000;
  const maxEntries = options.maxEntries ?? 10_000;
  const clock = options.clock ?? Date.now;
  const cache = new Map<string, { info: SessionInfo; expiresAt: number }>();
  return {
    async verify({ cookie, authorization }) {
      if (!cookie && !authorization) return null;
      const key = `${cookie ?? ''}\n${authorization ?? ''}`;
      const now = clock();
      const hit = cache.get(key);
      if (hit && hit.expiresAt > now) return hit.info;
      if (hit) cache.delete(key);
      const path = '/internal/sessions/verify';
      const { status, json } = await call('POST', path, { cookie, authorization });
      if (status === 401) return null;
      if (status !== 200) throw unexpected(path, status);
      const { userId, sessionId } = json as SessionInfo;
      const info: SessionInfo = { userId, sessionId };
      if (cacheMs > 0) {
        if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
        cache.set(key, { info, expiresAt: now + cacheMs });
      }
      return info;
    },
  };
}

export function createHttpDirectory(
  authUrl: string,
  internalToken: string,
  options: AuthClientOptions = {},
): Directory {
  const call = client(authUrl, internalToken, options);
  const get = async <T>(path: string): Promise<T | null> => {
    const { status, json } = await call('GET', path);
    if (status === 404) return null;
    if (status !== 200) throw unexpected(path, status);
    return json as T;
  };
  return {
    room: (roomId) =>
      get<{ id: string; name: string; members: DirectoryMember[] }>(`/internal/rooms/${encodeURIComponent(roomId)}`),
    user: (userId) => get<DirectoryUser>(`/internal/users/${encodeURIComponent(userId)}`),
    async roomIdsOf(userId) {
      const answer = await get<{ rooms: { id: string }[] }>(`/internal/users/${encodeURIComponent(userId)}/rooms`);
      return answer ? answer.rooms.map((r) => r.id) : [];
    },
  };
}
