import { assertOrigin, bearerToken, installHttpKit, type Logger, readCookie } from '@confab/platform';
import { Hono } from 'hono';
import type { JWK } from 'jose';
import { SESSION_COOKIE } from '../core';
import type { AuthMetrics } from '../metrics';
import { authRoutes } from './auth-routes';
import type { AuthEnv, RouteDeps } from './context';
import { internalRoutes } from './internal-routes';
import { inviteRoutes, roomRoutes } from './room-routes';

/** The auth server's routes: `/api/auth/*`, `/api/rooms/*`, `/api/invites/*`, `/internal/*`. */
export function buildApp(
  deps: RouteDeps & { jwks: () => { keys: JWK[] }; isStopped: () => boolean },
  { logger, metrics }: { logger: Logger; metrics: AuthMetrics },
): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  installHttpKit(app, { logger, histogram: metrics.http });

  app.use('*', async (c, next) => {
    if (deps.isStopped()) {
      return c.json({ error: { code: 'unavailable', message: 'the auth server is shutting down' } }, 503);
    }
    // CSRF: a write that leans on the session cookie must come from PUBLIC_URL's origin (see
    // platform/src/http/origin.ts). Bearer requests are exempt: no cross-site page can attach that header.
    // Only a Bearer token exempts: any other Authorization (Basic, garbage) leaves the cookie in charge
    // (core.authenticate falls back to it), so the Origin rule must still apply.
    if (!bearerToken(c.req.header('authorization'))) {
      assertOrigin({
        method: c.req.method,
        origin: c.req.header('origin'),
        publicOrigin: deps.config.publicOrigin,
        cookieAuthenticated: readCookie(c.req.header('cookie'), SESSION_COOKIE) !== undefined,
      });
    }
    await next();
  });

  app.get('/api/auth/jwks', (c) => {
    c.header('cache-control', 'public, max-age=300');
    return c.json(deps.jwks());
  });
  app.route('/api/auth', authRoutes(deps));
  app.route('/api/rooms', roomRoutes(deps));
  app.route('/api/invites', inviteRoutes(deps));
  app.route('/internal', internalRoutes(deps));
  return app;
}
