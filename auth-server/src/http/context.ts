import type { KitVariables, Logger } from '@confab/platform';
import { HttpError, serializeCookie } from '@confab/platform';
import type { HttpBindings } from '@hono/node-server';
import type { Context, MiddlewareHandler } from 'hono';
import type { AuthConfig } from '../config';
import { type AuthCore, SESSION_COOKIE } from '../core';
import { SESSION_POLICY } from '../domain/session';
import type { AuthMetrics } from '../metrics';
import type { AuthRepository } from '../ports';

export interface Caller {
  userId: string;
  sessionId: string;
  viaCookie: boolean;
}

export type AuthEnv = {
  Bindings: HttpBindings;
  Variables: KitVariables & { caller: Caller };
};

export type AuthContext = Context<AuthEnv>;

/** What every route module needs; built once in server.ts. */
export interface RouteDeps {
  config: AuthConfig;
  repo: AuthRepository;
  core: AuthCore;
  metrics: AuthMetrics;
  logger: Logger;
  clock: () => number;
  dummyPasswordHash: string;
}

/** 401 unless a valid session comes with the request; sets `caller`. */
export function sessionCookie(token: string, secure: boolean): string {
  return serializeCookie(SESSION_COOKIE, token, {
    secure,
    maxAgeSeconds: Math.floor(SESSION_POLICY.lifetimeMs / 1000),
  });
}

export function requireSession(core: AuthCore, secureCookies: boolean): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const auth = await core.authenticate({
      cookie: c.req.header('cookie'),
      authorization: c.req.header('authorization'),
    });
    if (!auth.ok) {
      if (auth.reason === 'expired') throw new HttpError('session_expired', 'the session has expired; sign in again');
      throw new HttpError('unauthenticated', auth.reason === 'missing' ? 'sign in first' : 'the session is not valid');
    }
    c.set('caller', { userId: auth.userId, sessionId: auth.sessionId, viaCookie: auth.viaCookie });
    await next();
    // The session slid forward; the cookie's Max-Age must follow, or the browser drops a live session after 30 days.
    if (auth.renewed && auth.viaCookie && !c.res.headers.has('set-cookie')) {
      c.res.headers.append('set-cookie', sessionCookie(auth.token, secureCookies));
    }
  };
}

/**
 * The client address for throttling: the socket's, or, behind one trusted
 * proxy, the LAST X-Forwarded-For entry: the one that proxy appended. Entries
 * before it were written by the client and prove nothing (a forged one per
 * request would otherwise give every guess a fresh address bucket).
 */
export function clientIp(c: AuthContext, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim();
    if (forwarded) return forwarded;
  }
  return c.env?.incoming?.socket?.remoteAddress ?? 'unknown';
}
