/**
 * The web client with big rooms, in headless Chromium against `npm start`:
 * time from navigation to the last message visible for rooms of 1k/10k/50k
 * messages held in IndexedDB, online and offline; first-load JS of the room
 * page (gzip); JS heap with the 50k room open. JSON lines on stdout.
 *
 *   BENCH_MODE=smoke|quick|full npx tsx bench/client.ts
 * Rooms of 200 (smoke), 1k and 10k (quick), 1k, 10k and 50k messages (full);
 * `comparison` lines (bench/src/mode.ts): each room against the smallest one,
 * and online against offline. Starting the app rebuilds the client first when
 * its build is older than its sources (minutes on 2 cores).
 *
 * Up to SERVER_SEED_MAX messages the room is also stored on the server (pushed
 * in 1,000-message updates by a Node provider as the same user), so "online"
 * measures the real case: local copy first, then a sync with nothing new.
 * Bigger rooms are measured offline only: pushing them through the sync
 * server's guard takes minutes (see docs/client.md, benchmark), and a local-only
 * 50k room online would try to upload itself in one oversized frame.
 */
import { gzipSync } from 'node:zlib';
import { appendMessage, type MessageId, PROTOCOL_VERSION, type UserId, uuidv7 } from '@confab/protocol';
import { HocuspocusProvider } from '@hocuspocus/provider';
import type { Page } from 'playwright-core';
import * as Y from 'yjs';
import { startApp } from '../e2e/support/app';
import { launchBrowser } from '../e2e/support/browser';
import { byMode, printComparison } from './src/mode';

const SIZES = byMode({ smoke: [200], quick: [1_000, 10_000], full: [1_000, 10_000, 50_000] });
const CHUNK = 1_000;
const SERVER_SEED_MAX = 10_000;
const PASSWORD = 'correct horse battery staple';

const emit = (record: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ bench: 'client', ...record })}\n`);

async function api<T>(base: string, path: string, token: string | null, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Pushes `messages` into the room on the server, CHUNK per update (each well under the 1 MiB frame limit). */
async function seedServer(
  base: string,
  token: string,
  roomId: string,
  userId: string,
  messages: number,
): Promise<Y.Doc> {
  const document = `room:${roomId}`;
  const doc = new Y.Doc();
  const provider = new HocuspocusProvider({
    url: `${base.replace('http', 'ws')}/sync?protocolVersion=${PROTOCOL_VERSION}`,
    name: document,
    document: doc,
    token: async () => (await api<{ token: string }>(base, '/api/auth/sync-token', token, { document })).token,
  });
  await new Promise<void>((resolve) => provider.on('synced', () => resolve()));
  const start = Date.now() - messages * 1000;
  for (let done = 0; done < messages; done += CHUNK) {
    doc.transact(() => {
      for (let i = done; i < Math.min(messages, done + CHUNK); i++) {
        appendMessage(doc, {
          id: uuidv7(start + i * 1000) as MessageId,
          author: userId as UserId,
          text: `message ${i}: the quick brown fox jumps over the lazy dog`,
          createdAt: start + i * 1000,
        });
      }
    });
    while (provider.unsyncedChanges > 0) await new Promise((r) => setTimeout(r, 20));
  }
  provider.destroy();
  return doc;
}

function buildLocal(userId: string, messages: number): Y.Doc {
  const doc = new Y.Doc();
  const start = Date.now() - messages * 1000;
  for (let done = 0; done < messages; done += CHUNK) {
    doc.transact(() => {
      for (let i = done; i < Math.min(messages, done + CHUNK); i++) {
        appendMessage(doc, {
          id: uuidv7(start + i * 1000) as MessageId,
          author: userId as UserId,
          text: `message ${i}: the quick brown fox jumps over the lazy dog`,
          createdAt: start + i * 1000,
        });
      }
    });
  }
  return doc;
}

/** Writes the room into the page's IndexedDB the way y-indexeddb stores it. */
async function seedIndexedDb(page: Page, dbName: string, update: Uint8Array): Promise<void> {
  await page.evaluate(
    async ({ name, base64 }) => {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const request = indexedDB.open(name);
        request.onupgradeneeded = () => {
          request.result.createObjectStore('updates', { autoIncrement: true });
          request.result.createObjectStore('custom');
        };
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
      await new Promise<void>((resolve, reject) => {
        const tx = db.transaction('updates', 'readwrite');
        tx.objectStore('updates').add(bytes);
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
      });
      db.close();
    },
    { name: dbName, base64: Buffer.from(update).toString('base64') },
  );
}

async function timeToLastMessage(page: Page, roomId: string, lastText: string): Promise<number> {
  await page.goto('/chat');
  const t0 = Date.now();
  await page.goto(`/chat/${roomId}`);
  await page.getByRole('log', { name: 'Messages' }).getByText(lastText).waitFor({ timeout: 120_000 });
  return Date.now() - t0;
}

const app = await startApp();
const browser = await launchBrowser();
try {
  const email = `bench-${Date.now().toString(36)}@example.test`;
  const { user, token } = await api<{ user: { id: string }; token: string }>(app.url, '/api/auth/register', null, {
    email,
    password: PASSWORD,
    displayName: 'Bench',
  });
  const context = await browser.newContext({ baseURL: app.url, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/chat');
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });

  // The in-run baseline of the size comparison: the first (smallest) room, offline.
  let smallestOfflineMs: number | null = null;
  for (const messages of SIZES) {
    const { room } = await api<{ room: { id: string } }>(app.url, '/api/rooms', token, { name: `Bench ${messages}` });
    let doc: Y.Doc;
    const online = messages <= SERVER_SEED_MAX;
    if (online) {
      const seedStart = Date.now();
      doc = await seedServer(app.url, token, room.id, user.id, messages);
      emit({ case: 'seed-server', messages, ms: Date.now() - seedStart });
    } else {
      doc = buildLocal(user.id, messages);
    }
    const update = Y.encodeStateAsUpdate(doc);
    await seedIndexedDb(page, `confab:${user.id}:room:${room.id}`, update);
    // The room list learns about the new room from the server.
    await page.goto('/chat');
    await page.getByRole('list', { name: 'Rooms' }).getByText(`Bench ${messages}`).waitFor();
    const lastText = `message ${messages - 1}: the quick brown fox`;
    let onlineMs: number | null = null;
    if (online) {
      onlineMs = await timeToLastMessage(page, room.id, lastText);
      emit({ case: 'open-room', mode: 'online', messages, updateBytes: update.length, ms: onlineMs });
    }
    await context.setOffline(true);
    const offlineMs = await timeToLastMessage(page, room.id, lastText);
    emit({ case: 'open-room', mode: 'offline', messages, updateBytes: update.length, ms: offlineMs });
    const roomCase = `room of ${messages.toLocaleString('en-US')} messages`;
    if (onlineMs !== null)
      printComparison('client', {
        case: roomCase,
        metric: 'navigation → last message visible',
        unit: 'ms',
        subject: 'online (local copy, then sync)',
        value: onlineMs,
        baseline: 'offline (local copy only)',
        baselineValue: offlineMs,
        better: 'lower',
      });
    if (smallestOfflineMs === null) smallestOfflineMs = offlineMs;
    else
      printComparison('client', {
        case: roomCase,
        metric: 'navigation → last message visible, offline',
        unit: 'ms',
        subject: `${messages.toLocaleString('en-US')} messages`,
        value: offlineMs,
        baseline: `${SIZES[0]!.toLocaleString('en-US')} messages`,
        baselineValue: smallestOfflineMs,
        better: 'lower',
      });
    if (messages === Math.max(...SIZES)) {
      const cdp = await context.newCDPSession(page);
      await cdp.send('HeapProfiler.collectGarbage');
      await cdp.send('Performance.enable');
      const { metrics } = await cdp.send('Performance.getMetrics');
      const heap = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0;
      emit({ case: 'heap-with-room-open', messages, jsHeapUsedMB: Math.round(heap / 1e5) / 10 });
      const scrollStart = Date.now();
      await page.getByRole('log', { name: 'Messages' }).evaluate(async (el) => {
        // Scroll from the bottom to the top in steps, one frame each: the virtualized list must keep up.
        for (let y = el.scrollHeight; y > 0; y -= el.scrollHeight / 50) {
          el.scrollTop = y;
          await new Promise((r) => requestAnimationFrame(() => r(null)));
        }
      });
      emit({ case: 'scroll-50-steps', messages, ms: Date.now() - scrollStart });
    }
    await context.setOffline(false);
  }

  // First-load JS of the room page: every script the HTML references, gzipped.
  const html = await (await fetch(`${app.url}/chat/_`)).text();
  const scripts = [...new Set(html.match(/\/_next\/static\/[^"']+\.js/g) ?? [])];
  let gzipBytes = 0;
  for (const src of scripts)
    gzipBytes += gzipSync(Buffer.from(await (await fetch(`${app.url}${src}`)).arrayBuffer()), { level: 9 }).length;
  emit({
    case: 'first-load-js',
    route: '/chat/[roomId]',
    scripts: scripts.length,
    gzipKB: Math.round(gzipBytes / 102.4) / 10,
  });
  await context.close();
} finally {
  await browser.close();
  await app.stop();
}
