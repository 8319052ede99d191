import { timingSafeEqual } from 'node:crypto';
import { bearerToken, HttpError, readJsonBody } from '@confab/platform';
import { isId } from '@confab/protocol';
import { Hono } from 'hono';
import { z } from 'zod';
import type { AuthEnv, RouteDeps } from './context';

/**
 * Internal endpoints for services in other processes (an extension of the
 * CONTRACT, see docs/auth.md): platform's createHttpSessionVerifier and
 * createHttpDirectory call them. Guarded by INTERNAL_API_TOKEN; without it
 * they do not exist (404), so a deployment cannot expose them by accident.
 */
const verifyBody = z.object({
  cookie: z.string().max(8192).optional(),
  authorization: z.string().max(8192).optional(),
});

function sameSecret(presented: string | undefined, expected: string): boolean {
  if (!presented) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function internalRoutes(deps: RouteDeps): Hono<AuthEnv> {
  const { config, repo, core } = deps;
  const app = new Hono<AuthEnv>();

  app.use('*', async (c, next) => {
    if (!config.internalApiToken) throw new HttpError('not_found', `no route for ${c.req.method} ${c.req.path}`);
    // The router sees the path with dot segments resolved. A proxy that routes on the raw path would send
    // `/api/auth/../../internal/…` here as public /api traffic: only a request for /internal itself counts.
    const rawPath = c.env?.incoming?.url ?? '';
    if (!rawPath.startsWith('/internal/'))
      throw new HttpError('not_found', `no route for ${c.req.method} ${c.req.path}`);
    if (!sameSecret(bearerToken(c.req.header('authorization')), config.internalApiToken)) {
      // 403, not 401: verify's 401 means "no such session", and a misconfigured caller must not read it that way.
      throw new HttpError('forbidden', 'internal endpoints need the internal API token');
    }
    await next();
  });

  app.post('/sessions/verify', async (c) => {
    const body = await readJsonBody(c.req.raw, verifyBody);
    const auth = await core.authenticate(body);
    if (!auth.ok)
      throw new HttpError(auth.reason === 'expired' ? 'session_expired' : 'unauthenticated', 'no valid session');
    return c.json({ userId: auth.userId, sessionId: auth.sessionId });
  });

  app.get('/rooms/:roomId', async (c) => {
    const roomId = c.req.param('roomId');
    const room = isId(roomId) ? await repo.roomById(roomId) : null;
    if (!room) throw new HttpError('not_found', 'no such room');
    const members = await repo.members(room.id);
    return c.json({
      id: room.id,
      name: room.name,
      members: members.map((m) => ({ id: m.userId, email: m.email, displayName: m.displayName, role: m.role })),
    });
  });

  app.get('/users/:userId', async (c) => {
    const userId = c.req.param('userId');
    const user = isId(userId) ? await repo.userById(userId) : null;
    if (!user) throw new HttpError('not_found', 'no such user');
    return c.json({ id: user.id, email: user.email, displayName: user.displayName });
  });

  app.get('/users/:userId/rooms', async (c) => {
    const userId = c.req.param('userId');
    const user = isId(userId) ? await repo.userById(userId) : null;
    if (!user) throw new HttpError('not_found', 'no such user');
    const rooms = await repo.roomsOf(user.id);
    return c.json({ rooms: rooms.map((r) => ({ id: r.id, name: r.name, role: r.role })) });
  });

  return app;
}
