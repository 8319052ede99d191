/// <reference lib="webworker" />
import { defaultCache } from '@serwist/turbopack/worker';
import { NetworkOnly, type PrecacheEntry, type RouteHandlerCallback, Serwist, type SerwistGlobalConfig } from 'serwist';

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

const SHELLS = ['/chat', '/chat/_', '/invite/_', '/login', '/register', '/profile'];

/** Which precached shell answers an offline navigation to `pathname`. */
function shellFor(pathname: string): string {
  if (pathname.startsWith('/chat/')) return '/chat/_';
  if (pathname.startsWith('/invite/')) return '/invite/_';
  return SHELLS.includes(pathname) ? pathname : '/chat';
}

/**
 * Page navigations: the network when it answers, else the precached shell of
 * the route. Written out instead of Serwist's `fallbacks`, whose plugin did not
 * answer navigations to never-visited room URLs (found by bench/client.ts).
 */
const navigate: RouteHandlerCallback = async ({ request, event }) => {
  try {
    const preloaded = (await (event as FetchEvent).preloadResponse) as Response | undefined;
    if (preloaded) return preloaded;
    return await fetch(request);
  } catch {
    const shell = shellFor(new URL(request.url).pathname);
    return (await serwist.matchPrecache(shell)) ?? (await serwist.matchPrecache('/chat')) ?? Response.error();
  }
};

const serwist = new Serwist({
  precacheEntries: self.__SW_MANIFEST,
  // The page asks before a new version takes over ("a new version is ready").
  skipWaiting: false,
  clientsClaim: true,
  navigationPreload: true,
  runtimeCaching: [
    { matcher: ({ request, sameOrigin }) => sameOrigin && request.mode === 'navigate', handler: navigate },
    // API answers are private to an account and the app keeps its own offline
    // state (localStorage, IndexedDB): never cache them, unlike defaultCache's "apis".
    { matcher: ({ sameOrigin, url }) => sameOrigin && url.pathname.startsWith('/api/'), handler: new NetworkOnly() },
    ...defaultCache,
  ],
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
