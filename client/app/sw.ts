/// <reference lib="webworker" />
import { defaultCache } from '@serwist/turbopack/worker';
import { type PrecacheEntry, Serwist, type SerwistGlobalConfig } from 'serwist';

/**
 * The service worker. Precaches the app shell (static assets and one
 * prerendered page per route) so every route, including /chat/<roomId> and
 * /invite/<code> never opened before, loads offline; handles Web Push.
 */
declare global {
  interface WorkerGlobalScope extends SerwistGlobalConfig {
    __SW_MANIFEST: (PrecacheEntry | string)[] | undefined;
  }
}

declare const self: ServiceWorkerGlobalScope;

/** Which precached shell answers an offline navigation to `pathname`. */
function shellFor(pathname: string): string {
  if (pathname.startsWith('/chat/')) return '/chat/_';
  if (pathname.startsWith('/invite/')) return '/invite/_';
  for (const route of ['/chat', '/login', '/register', '/profile']) if (pathname === route) return route;
  return '/chat';
}

const serwist = new Serwist({
  precacheEntries: self.__SW_MANIFEST,
  // The page asks before a new version takes over ("a new version is ready").
  skipWaiting: false,
  clientsClaim: true,
  navigationPreload: true,
  runtimeCaching: defaultCache,
  fallbacks: {
    // When a navigation fails (offline, server down), answer with the precached shell of its route.
    entries: ['/chat/_', '/invite/_', '/chat', '/login', '/register', '/profile'].map((shell) => ({
      url: shell,
      matcher: ({ request }: { request: Request }) =>
        request.destination === 'document' && shellFor(new URL(request.url).pathname) === shell,
    })),
  },
});

interface PushPayload {
  title?: string;
  body?: string;
  roomId?: string;
  messageId?: string;
  url?: string;
}

self.addEventListener('push', (event) => {
  let payload: PushPayload = {};
  try {
    payload = (event.data?.json() ?? {}) as PushPayload;
  } catch {
    payload = { body: event.data?.text() ?? '' };
  }
  const url = payload.url ?? (payload.roomId ? `/chat/${encodeURIComponent(payload.roomId)}` : '/chat');
  event.waitUntil(
    self.registration.showNotification(payload.title ?? 'Confab', {
      body: payload.body ?? '',
      icon: '/icons/icon-192.png',
      badge: '/icons/icon-192.png',
      // One notification per room: a newer message replaces the older one.
      tag: payload.roomId ? `room:${payload.roomId}` : 'confab',
      data: { url },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL((event.notification.data as { url?: string } | null)?.url ?? '/chat', self.location.origin);
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const client of windows) {
        if (new URL(client.url).origin === target.origin && 'focus' in client) {
          await client.focus();
          if ('navigate' in client) await (client as WindowClient).navigate(target.href);
          return;
        }
      }
      await self.clients.openWindow(target.href);
    })(),
  );
});

serwist.addEventListeners();
