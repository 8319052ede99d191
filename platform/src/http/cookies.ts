import { parse, serialize } from 'hono/utils/cookie';

export interface CookieOptions {
  maxAgeSeconds?: number;
  secure: boolean;
  /** Default true: scripts never see session cookies. */
  httpOnly?: boolean;
  /** Default Lax: sent on top-level navigations, not on cross-site subrequests. */
  sameSite?: 'Lax' | 'Strict';
  path?: string;
}

/** One cookie's value from a raw `Cookie` header, or undefined. */
export function readCookie(header: string | null | undefined, name: string): string | undefined {
  if (!header) return undefined;
  return parse(header, name)[name];
}

export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  return serialize(name, value, {
    httpOnly: options.httpOnly ?? true,
    sameSite: options.sameSite ?? 'Lax',
    path: options.path ?? '/',
    secure: options.secure,
    ...(options.maxAgeSeconds === undefined ? {} : { maxAge: options.maxAgeSeconds }),
  });
}

/** A Set-Cookie value that makes the browser forget the cookie. */
export function clearCookie(name: string, options: Pick<CookieOptions, 'secure' | 'path'>): string {
  return serializeCookie(name, '', { ...options, maxAgeSeconds: 0 });
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
