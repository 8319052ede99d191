import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@confab/platform/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { type Gateway, routeFor } from '../scripts/cluster';
import { startGateway } from '../scripts/cluster/gateway';

/** A tiny upstream that says who it is, echoes what it was sent, and speaks WebSocket. */
async function startEcho(name: string): Promise<{ port: number; server: Server; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name });
      res.end(JSON.stringify({ name, method: req.method, url: req.url, body, headers: req.headers }));
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(`hello from ${name}`);
      ws.on('message', (data) => ws.send(`${name}: ${String(data)}`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function openSocket(url: string): Promise<{ ws: WebSocket; first: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('message', (data) => resolve({ ws, first: String(data) }));
    ws.once('error', reject);
  });
}

describe('the cluster gateway', () => {
  let gateway: Gateway;
  const upstreams: Record<string, Awaited<ReturnType<typeof startEcho>>> = {};
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    for (const name of ['auth', 'notifier', 'client', 'sync-1', 'sync-2']) upstreams[name] = await startEcho(name);
    gateway = await startGateway({ port: 0 });
    gateway.setUpstreams('auth', [{ name: 'auth', port: upstreams.auth!.port }]);
    gateway.setUpstreams('notifier', [{ name: 'notifier', port: upstreams.notifier!.port }]);
    gateway.setUpstreams('client', [{ name: 'client', port: upstreams.client!.port }]);
    gateway.setUpstreams('sync', [
      { name: 'sync-1', port: upstreams['sync-1']!.port },
      { name: 'sync-2', port: upstreams['sync-2']!.port },
    ]);
  });
  afterEach(() => {
    for (const ws of sockets.splice(0)) ws.terminate();
  });
  afterAll(async () => {
    await gateway?.close();
    for (const upstream of Object.values(upstreams)) await upstream.close();
  });

  const base = () => `http://127.0.0.1:${gateway.port}`;

  it('routes each API prefix to its service and everything else to the client', () => {
    expect(routeFor('/api/auth/login')).toBe('auth');
    expect(routeFor('/api/rooms')).toBe('auth');
    expect(routeFor('/api/rooms/r1/invites')).toBe('auth');
    expect(routeFor('/api/invites/abc/accept')).toBe('auth');
    expect(routeFor('/api/notifications/stream')).toBe('notifier');
    expect(routeFor('/api/push/vapid-public-key')).toBe('notifier');
    expect(routeFor('/sync')).toBe('sync');
    expect(routeFor('/chat/r1')).toBe('client');
    expect(routeFor('/api/authx')).toBe('client');
  });

  it('never exposes the internal endpoints: /internal goes to the web app, not the auth server', async () => {
    const answer = await fetch(`${base()}/internal/users/u1`);
    expect(answer.headers.get('x-upstream')).toBe('client');
  });

  it('routes and forwards the normalized path, so dot segments cannot reach /internal through an API prefix', async () => {
    const raw = (target: string) =>
      new Promise<{ upstream: string | undefined; url: string }>((resolve, reject) => {
        // node:http sends the path as written; fetch() would normalize it before it leaves.
        const request = http.get({ host: '127.0.0.1', port: gateway.port, path: target }, (answer) => {
          let body = '';
          answer.on('data', (chunk: Buffer) => {
            body += chunk.toString();
          });
          answer.on('end', () =>
            resolve({ upstream: answer.headers['x-upstream'] as string | undefined, url: JSON.parse(body).url }),
          );
        });
        request.on('error', reject);
      });
    expect(await raw('/api/auth/../../internal/users/u1?x=1')).toEqual({
      upstream: 'client',
      url: '/internal/users/u1?x=1',
    });
    expect(await raw('/api/rooms/%2e%2e/%2E%2E/internal/rooms/r1')).toEqual({
      upstream: 'client',
      url: '/internal/rooms/r1',
    });
    expect(await raw('/api/auth/me/../sessions')).toEqual({ upstream: 'auth', url: '/api/auth/sessions' });
  });

  it('forwards method, path, body and the original Host, and says who the client was', async () => {
    const answer = await fetch(`${base()}/api/rooms?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'lobby' }),
    });
    const seen = (await answer.json()) as {
      name: string;
      method: string;
      url: string;
      body: string;
      headers: Record<string, string>;
    };
    expect(seen.name).toBe('auth');
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/api/rooms?x=1');
    expect(JSON.parse(seen.body)).toEqual({ name: 'lobby' });
    expect(seen.headers.host).toBe(`127.0.0.1:${gateway.port}`);
    expect(seen.headers['x-forwarded-for']).toContain('127.0.0.1');
  });

  it('spreads WebSocket connections over the sync instances in turn', async () => {
    const a = await openSocket(`ws://127.0.0.1:${gateway.port}/sync`);
    const b = await openSocket(`ws://127.0.0.1:${gateway.port}/sync`);
    sockets.push(a.ws, b.ws);
    expect(new Set([a.first, b.first])).toEqual(new Set(['hello from sync-1', 'hello from sync-2']));
    await waitFor(() => gateway.openTunnels()['sync-1'] === 1 && gateway.openTunnels()['sync-2'] === 1);
    const echoed = new Promise((resolve) => a.ws.once('message', (data) => resolve(String(data))));
    a.ws.send('ping');
    expect(await echoed).toMatch(/^sync-\d: ping$/);
  });

  it('sends a new connection to the other instance when one is down', async () => {
    const down = upstreams['sync-1']!;
    await down.close();
    try {
      for (let i = 0; i < 3; i++) {
        const { ws, first } = await openSocket(`ws://127.0.0.1:${gateway.port}/sync`);
        sockets.push(ws);
        expect(first).toBe('hello from sync-2');
      }
    } finally {
      await new Promise<void>((resolve) => down.server.listen(down.port, '127.0.0.1', resolve));
    }
  });

  it('answers 502 in the CONTRACT error shape when no instance of a service is up', async () => {
    gateway.setUpstreams('notifier', []);
    const answer = await fetch(`${base()}/api/notifications`);
    expect(answer.status).toBe(502);
    expect(await answer.json()).toEqual({ error: { code: 'bad_gateway', message: expect.any(String) } });
    gateway.setUpstreams('notifier', [{ name: 'notifier', port: upstreams.notifier!.port }]);
  });
});
