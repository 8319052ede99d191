import { describe, expect, it } from 'vitest';
import { bearerToken, readCookie, serializeCookie } from './cookies';
import { errorResponse, HttpError } from './errors';
import { originOf, originProblem } from './origin';
import { requestIdFrom } from './request-id';

const publicOrigin = 'https://chat.example.com';

describe('the Origin rule', () => {
  it('lets reads through whatever their origin', () => {
    expect(
      originProblem({ method: 'GET', origin: 'https://evil.example', publicOrigin, cookieAuthenticated: true }),
    ).toBeNull();
  });

  it('refuses a cookie-authenticated write without Origin or from another origin', () => {
    expect(originProblem({ method: 'POST', origin: undefined, publicOrigin, cookieAuthenticated: true })).toMatch(
      /Origin/,
    );
    expect(
      originProblem({ method: 'DELETE', origin: 'https://evil.example', publicOrigin, cookieAuthenticated: true }),
    ).toMatch(/evil/);
    expect(originProblem({ method: 'PATCH', origin: 'null', publicOrigin, cookieAuthenticated: true })).not.toBeNull();
  });

  it('accepts PUBLIC_URL’s origin, and a cookie-less write without Origin (non-browser clients)', () => {
    expect(originProblem({ method: 'POST', origin: publicOrigin, publicOrigin, cookieAuthenticated: true })).toBeNull();
    expect(originProblem({ method: 'POST', origin: undefined, publicOrigin, cookieAuthenticated: false })).toBeNull();
  });

  it('takes the origin of a URL with a path', () => {
    expect(originOf('https://chat.example.com/app/')).toBe(publicOrigin);
  });
});

describe('cookies, bearer tokens, request ids, errors', () => {
  it('writes a session cookie HttpOnly, SameSite=Lax, Path=/ and Secure only when asked', () => {
    const plain = serializeCookie('confab_session', 'abc', { secure: false, maxAgeSeconds: 60 });
    expect(plain).toBe('confab_session=abc; Max-Age=60; Path=/; HttpOnly; SameSite=Lax');
    expect(serializeCookie('confab_session', 'abc', { secure: true })).toContain('; Secure');
  });

  it('reads one cookie out of a header and a bearer token out of Authorization', () => {
    expect(readCookie('a=1; confab_session=tok.en; b=2', 'confab_session')).toBe('tok.en');
    expect(readCookie(undefined, 'confab_session')).toBeUndefined();
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('Basic abc')).toBeUndefined();
  });

  it('keeps a sane request id and replaces anything else', () => {
    expect(requestIdFrom('gw-42')).toBe('gw-42');
    expect(requestIdFrom('has spaces')).not.toBe('has spaces');
    expect(requestIdFrom('x'.repeat(200))).toHaveLength(36);
  });

  it('maps an HttpError to its status and body, and anything else to a bare 500', () => {
    const known = errorResponse(new HttpError('rate_limited', 'slow down', { headers: { 'retry-after': '5' } }));
    expect(known).toMatchObject({ status: 429, headers: { 'retry-after': '5' }, expected: true });
    expect(known.body).toEqual({ error: { code: 'rate_limited', message: 'slow down' } });
    const unknown = errorResponse(new Error('SQLITE_CORRUPT at /srv/app/db.ts:12'));
    expect(unknown).toMatchObject({ status: 500, body: { error: { code: 'internal', message: 'internal error' } } });
  });
});
