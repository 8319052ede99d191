import { errorBody } from '@confab/protocol';
import type { Context, Env, Hono } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Histogram } from 'prom-client';
import type { Logger } from '../log';
import { errorResponse } from './errors';
import { REQUEST_ID_HEADER, requestIdFrom } from './request-id';

/** Variables the kit sets on every request's context. */
export interface KitVariables {
  requestId: string;
  /** The service logger bound to this request's id. */
  log: Logger;
}

export type KitEnv = { Variables: KitVariables };

/**
 * Wires the shared HTTP behaviour into a Hono app: request ids (kept from
 * `x-request-id` or made, echoed back), the duration histogram by route
 * pattern, one error handler that turns HttpError into the CONTRACT body and
 * anything else into a 500 without details, and a JSON 404.
 */
export function installHttpKit<E extends KitEnv>(
  app: Hono<E>,
  { logger, histogram }: { logger: Logger; histogram?: Histogram<'method' | 'route' | 'status'> },
): void {
  app.use('*', async (c, next) => {
    const requestId = requestIdFrom(c.req.header(REQUEST_ID_HEADER));
    c.set('requestId', requestId);
    c.set('log', logger.child({ requestId }));
    const startedAt = performance.now();
    await next();
    c.res.headers.set(REQUEST_ID_HEADER, requestId);
    // API answers are JSON for scripts: never sniffed into HTML, and never kept by a shared or browser cache
    // (they are private to a session). A route that wants caching (the JWKS) sets its own Cache-Control.
    c.res.headers.set('x-content-type-options', 'nosniff');
    if (!c.res.headers.has('cache-control')) c.res.headers.set('cache-control', 'no-store');
    const route = routeOf(c);
    const durationMs = performance.now() - startedAt;
    histogram?.observe({ method: c.req.method, route, status: String(c.res.status) }, durationMs / 1000);
    // The route pattern, never the raw URL or headers: paths can carry invite codes.
    c.get('log').debug({ method: c.req.method, route, status: c.res.status, durationMs }, 'request');
  });
  app.onError((error, c) => {
    const { status, body, headers, expected } = errorResponse(error);
    const log = (c.get('log') as Logger | undefined) ?? logger;
    // The route pattern, not the raw path: `/api/invites/<code>/accept` carries a secret.
    if (!expected) log.error({ err: error, method: c.req.method, route: routeOf(c) }, 'request failed');
    return c.json(body, status as 500, headers);
  });
  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));
}

/** The route pattern that answered (`/api/rooms/:id`), never the raw path, so metric labels stay few. */
function routeOf(c: Context): string {
  const routes = matchedRoutes(c).filter((r) => r.path !== '*' && r.path !== '/*');
  return routes.at(-1)?.path ?? 'unmatched';
}

export type { Env };
