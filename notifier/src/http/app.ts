import type { Directory, SessionInfo, SessionVerifier } from '@confab/platform';
import {
  assertOrigin,
  bearerToken,
  HttpError,
  installHttpKit,
  type KitEnv,
  type Logger,
  readCookie,
  readJsonBody,
} from '@confab/platform';
import { type Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { Histogram } from 'prom-client';
import { z } from 'zod';
import { checkPushEndpoint } from '../adapters/push';
import type { NotifierRepository } from '../adapters/repository';
import { escapeHtml } from '../domain/content';
import {
  applyPatch,
  DEFAULT_PREFERENCES,
  type Preferences,
  parsePreferencesPatch,
  unknownRoomIds,
} from '../domain/preferences';
import { verifyUnsubscribeToken } from '../domain/unsubscribe';
import type { StreamHub } from '../streams';

export const SESSION_COOKIE = 'confab_session';
const PAGE_SIZE = 50;
const MAX_READ_IDS = 1000;
/** How many unread items a stream watches for being read elsewhere (the app's bell keeps 30). */
const WATCHED_UNREAD = 200;

export interface AppDeps {
  readonly repo: NotifierRepository;
  readonly sessions: SessionVerifier;
  readonly directory: Directory;
  readonly streams: StreamHub;
  readonly logger: Logger;
  readonly clock: () => number;
  readonly publicUrl: string;
  readonly allowPrivatePushEndpoints: boolean;
  readonly vapidPublicKey: string;
  readonly unsubscribeSecret: string;
  /** Seconds between SSE heartbeats (comments that keep proxies from closing an idle stream). */
  readonly heartbeatMs: number;
  /** A stream re-reads the database this often even without a wake-up (other instances' notifications). */
  readonly streamPollMs: number;
  /** Request durations by route (`confab_notifier_http_request_duration_seconds`). */
  readonly histogram?: Histogram<'method' | 'route' | 'status'>;
  /** DNS for push endpoint checks (tests inject one). */
  readonly lookup?: (hostname: string) => Promise<{ address: string; family: number }[]>;
}

type Env = KitEnv & { Variables: { session: SessionInfo } };

const id = z.string().regex(/^\d{1,18}$/, 'must be a notification id');
const readBody = z.union([
  z.object({ all: z.literal(true) }).strict(),
  z.object({ ids: z.array(id).min(1).max(MAX_READ_IDS) }).strict(),
]);
const base64url = z.string().regex(/^[A-Za-z0-9_-]+=*$/, 'must be base64url');
const subscriptionBody = z.object({
  endpoint: z.string().max(2048),
  expirationTime: z.number().nullable().optional(),
  keys: z.object({ p256dh: base64url.min(80).max(100), auth: base64url.min(16).max(32) }),
});
const unsubscribeBody = z.object({ endpoint: z.string().max(2048) });

/** The notifier's routes: /api/notifications/* and /api/push/*. */
export function createNotifierApp(deps: AppDeps): Hono<Env> {
  const { repo } = deps;
  const app = new Hono<Env>();
  installHttpKit(app, { logger: deps.logger, ...(deps.histogram ? { histogram: deps.histogram } : {}) });

  // Authentication for everything but the VAPID key and the unsubscribe link
  // (which carries its own signed token so it works from a mail client). Hono
  // runs handlers in registration order, so the routes registered above the
  // `authenticate` middleware answer before it is reached.
  const authenticate = async (c: Context<Env>, next: () => Promise<void>) => {
    const cookie = c.req.header('cookie');
    const authorization = c.req.header('authorization');
    const bearer = bearerToken(authorization);
    const sessionCookie = readCookie(cookie, SESSION_COOKIE);
    if (!bearer && !sessionCookie) throw new HttpError('unauthenticated', 'sign in first');
    let session: SessionInfo | null;
    try {
      session = await deps.sessions.verify({ cookie, authorization });
    } catch (cause) {
      throw new HttpError('unavailable', 'cannot check the session right now', { cause });
    }
    if (!session) throw new HttpError('unauthenticated', 'the session is invalid or has expired');
    assertOrigin({
      method: c.req.method,
      origin: c.req.header('origin'),
      publicOrigin: deps.publicUrl,
      cookieAuthenticated: !bearer,
    });
    c.set('session', session);
    await next();
  };

  app.get('/api/push/vapid-public-key', (c) => c.json({ key: deps.vapidPublicKey }));

  // Unsubscribe: GET shows a button (link scanners fetch GETs and must not
  // unsubscribe anyone); POST turns email off (also RFC 8058 one-click).
  app.get('/api/notifications/unsubscribe', (c) => {
    const token = c.req.query('token') ?? '';
    if (!verifyUnsubscribeToken(deps.unsubscribeSecret, token)) {
      throw new HttpError('not_found', 'this unsubscribe link is not valid');
    }
    return c.html(
      `<!doctype html><html><body><form method="post" action="/api/notifications/unsubscribe?token=${escapeHtml(
        encodeURIComponent(token),
      )}"><p>Stop Confab notification emails?</p><button type="submit">Unsubscribe</button></form></body></html>`,
    );
  });
  app.post('/api/notifications/unsubscribe', async (c) => {
    const userId = verifyUnsubscribeToken(deps.unsubscribeSecret, c.req.query('token') ?? '');
    if (!userId) throw new HttpError('not_found', 'this unsubscribe link is not valid');
    const current = (await repo.preferencesOf([userId])).get(userId) ?? DEFAULT_PREFERENCES;
    await repo.savePreferences(userId, { ...current, email: false }, deps.clock());
    if ((c.req.header('accept') ?? '').includes('application/json')) return c.json({ email: false });
    return c.html('<!doctype html><html><body><p>You will get no more notification emails.</p></body></html>');
  });

  app.use('/api/notifications/*', authenticate);
  app.use('/api/notifications', authenticate);
  app.use('/api/push/subscriptions', authenticate);

  app.get('/api/notifications', async (c) => {
    const cursor = c.req.query('cursor') || null;
    if (cursor !== null && !id.safeParse(cursor).success) {
      throw new HttpError('invalid_field', 'cursor: must be a cursor from a previous page', { field: 'cursor' });
    }
    return c.json(await repo.listNotifications(c.get('session').userId, cursor, PAGE_SIZE));
  });

  app.post('/api/notifications/read', async (c) => {
    const body = await readJsonBody(c.req.raw, readBody);
    const userId = c.get('session').userId;
    await repo.markRead(userId, 'all' in body ? 'all' : body.ids, deps.clock());
    // The user's other tabs and devices take the items off their unread count.
    deps.streams.notify([userId]);
    return c.body(null, 204);
  });

  app.get('/api/notifications/preferences', async (c) => {
    const userId = c.get('session').userId;
    return c.json((await repo.preferencesOf([userId])).get(userId) ?? DEFAULT_PREFERENCES);
  });

  app.put('/api/notifications/preferences', async (c) => {
    const userId = c.get('session').userId;
    const raw = await readJsonBody(c.req.raw, z.unknown());
    const parsed = parsePreferencesPatch(raw);
    if (!parsed.ok) throw new HttpError('invalid_field', `${parsed.field}: ${parsed.message}`, { field: parsed.field });
    if (parsed.patch.rooms && Object.keys(parsed.patch.rooms).length > 0) {
      const unknown = unknownRoomIds(parsed.patch, await deps.directory.roomIdsOf(userId));
      if (unknown.length > 0) {
        const field = `rooms.${unknown[0]}`;
        throw new HttpError('invalid_field', `${field}: you are not a member of this room`, { field });
      }
    }
    const current = (await repo.preferencesOf([userId])).get(userId) ?? DEFAULT_PREFERENCES;
    const next: Preferences = applyPatch(current, parsed.patch);
    await repo.savePreferences(userId, next, deps.clock());
    return c.json(next);
  });

  app.post('/api/push/subscriptions', async (c) => {
    const body = await readJsonBody(c.req.raw, subscriptionBody);
    const check = await checkPushEndpoint(body.endpoint, {
      allowPrivate: deps.allowPrivatePushEndpoints,
      ...(deps.lookup ? { lookup: deps.lookup } : {}),
    });
    if (!check.ok) {
      throw new HttpError('invalid_field', `endpoint: ${check.message}`, { field: 'endpoint' });
    }
    const session = c.get('session');
    await repo.savePushSubscription(
      {
        endpoint: body.endpoint,
        userId: session.userId,
        sessionId: session.sessionId,
        p256dh: body.keys.p256dh,
        auth: body.keys.auth,
      },
      deps.clock(),
    );
    return c.body(null, 201);
  });

  app.delete('/api/push/subscriptions', async (c) => {
    const body = await readJsonBody(c.req.raw, unsubscribeBody);
    await repo.deletePushSubscription(body.endpoint, c.get('session').userId);
    return c.body(null, 204);
  });

  app.get('/api/notifications/stream', async (c) => {
    const session = c.get('session');
    const resumeFrom = c.req.header('last-event-id') ?? c.req.query('lastEventId');
    let lastId =
      resumeFrom && id.safeParse(resumeFrom).success ? resumeFrom : await repo.latestNotificationId(session.userId);
    return streamSSE(c, async (stream) => {
      let wake: (() => void) | null = null;
      let closed = false;
      const wakeUp = () => {
        wake?.();
      };
      const close = () => {
        closed = true;
        wakeUp();
      };
      const unregister = deps.streams.register({
        userId: session.userId,
        sessionId: session.sessionId,
        wake: wakeUp,
        close,
      });
      stream.onAbort(close);
      let lastWriteMs = Date.now();
      // The unread items this client may be showing (the newest, then each one streamed): when one is
      // read elsewhere (its room read up to it, another tab or device), a `read` event says so.
      const unread = new Set<string>();
      const watch = (id: string) => {
        unread.add(id);
        if (unread.size > WATCHED_UNREAD) unread.delete(unread.values().next().value as string);
      };
      try {
        for (const id of (await repo.unreadIds(session.userId, WATCHED_UNREAD)).reverse()) watch(id);
        await stream.writeSSE({ event: 'ready', data: '{}', retry: 3000 });
        while (!closed) {
          const items = await repo.notificationsAfter(session.userId, lastId, 100);
          for (const item of items) {
            await stream.writeSSE({ event: 'notification', id: item.id, data: JSON.stringify(item) });
            lastId = item.id;
            lastWriteMs = Date.now();
            if (item.readAt === null) watch(item.id);
          }
          if (items.length === 100) continue;
          const read = await repo.readAmong(session.userId, [...unread]);
          if (read.length > 0) {
            // No id: a read event is not a place to resume from (Last-Event-ID names notifications).
            await stream.writeSSE({ event: 'read', data: JSON.stringify({ ids: read }) });
            for (const id of read) unread.delete(id);
            lastWriteMs = Date.now();
          }
          if (Date.now() - lastWriteMs >= deps.heartbeatMs) {
            await stream.write(': heartbeat\n\n');
            lastWriteMs = Date.now();
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.min(deps.streamPollMs, deps.heartbeatMs));
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = null;
        }
      } finally {
        unregister();
      }
    });
  });

  return app;
}
