import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * The local stand-in for Traefik (docker-compose) and the Ingress
 * (Kubernetes): one origin for the browser, so cookies, the Origin check and
 * the service worker behave as in production. Routes are the same table the
 * compose labels and the Ingress use, kept in one place here (`ROUTES`).
 *
 * Hand-rolled on node:http instead of http-proxy-3: it needs plain request
 * piping, a raw WebSocket tunnel and fail-over to the next sync instance when
 * one is down, which is about as much code as configuring a library for it.
 */

export type UpstreamGroup = 'auth' | 'sync' | 'notifier' | 'client';

/** Path prefix → upstream group. `/internal/*` is deliberately absent: those endpoints are for services only. */
export const ROUTES: ReadonlyArray<{ prefix: string; group: UpstreamGroup }> = [
  { prefix: '/api/auth', group: 'auth' },
  { prefix: '/api/rooms', group: 'auth' },
  { prefix: '/api/invites', group: 'auth' },
  { prefix: '/api/notifications', group: 'notifier' },
  { prefix: '/api/push', group: 'notifier' },
  { prefix: '/sync', group: 'sync' },
];

/**
 * The path as routed: WHATWG-normalized (dot segments, also percent-encoded
 * ones, resolved), so `/api/auth/../../internal/x` is routed, and forwarded,
 * as `/internal/x`. Upstreams only ever see the path the routing decision was
 * made on.
 */
export function normalizedTarget(rawUrl: string | undefined): { pathname: string; target: string } {
  const url = new URL(rawUrl ?? '/', 'http://gateway');
  return { pathname: url.pathname, target: `${url.pathname}${url.search}` };
}

export function routeFor(pathname: string): UpstreamGroup {
  for (const { prefix, group } of ROUTES) {
    if (pathname === prefix || pathname.startsWith(`${prefix}/`) || pathname.startsWith(`${prefix}?`)) return group;
  }
  return 'client';
}

export interface Upstream {
  readonly name: string;
  readonly port: number;
}

export interface Gateway {
  readonly port: number;
  readonly url: string;
  /** Replaces the upstreams of a group (instances come and go as the cluster starts, kills and restarts them). */
  setUpstreams(group: UpstreamGroup, upstreams: Upstream[]): void;
  /** Open WebSocket tunnels per upstream name: which sync instance each client ended up on. */
  openTunnels(): Record<string, number>;
  close(): Promise<void>;
}

/** Headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function forwardedHeaders(req: IncomingMessage, keepUpgrade: boolean): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (!keepUpgrade && HOP_BY_HOP.has(name)) continue;
    headers[name] = value;
  }
  const remote = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = prior ? `${prior}, ${remote}` : remote;
  headers['x-forwarded-proto'] = 'http';
  if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;
  return headers;
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code, message } }));
}

export async function startGateway({ port, host = '127.0.0.1' }: { port: number; host?: string }): Promise<Gateway> {
  const groups = new Map<UpstreamGroup, Upstream[]>();
  const cursors = new Map<UpstreamGroup, number>();
  const tunnels = new Map<string, Set<Duplex>>();
  const openSockets = new Set<Duplex>();

  /** Round-robin order starting at the next instance, so a refused connection falls over to the others. */
  function candidates(group: UpstreamGroup): Upstream[] {
    const list = groups.get(group) ?? [];
    if (list.length === 0) return [];
    const start = (cursors.get(group) ?? 0) % list.length;
    cursors.set(group, start + 1);
    return [...list.slice(start), ...list.slice(0, start)];
  }

  function proxyRequest(req: IncomingMessage, res: ServerResponse, target: string, order: Upstream[]): void {
    const upstream = order[0];
    if (!upstream) {
      sendError(res, 502, 'bad_gateway', 'no upstream is available for this path');
      return;
    }
    const outgoing = http.request(
      {
        host: '127.0.0.1',
        port: upstream.port,
        method: req.method,
        path: target,
        headers: forwardedHeaders(req, false),
      },
      (answer) => {
        const headers: http.OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(answer.headers)) {
          if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
        }
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
        // Server-Sent Events (the notification stream) must reach the browser as they come.
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      // Only a refused connection is retried elsewhere: the request body has not been consumed then.
      if (error.code === 'ECONNREFUSED' && order.length > 1 && !res.headersSent) {
        proxyRequest(req, res, target, order.slice(1));
        return;
      }
      sendError(res, 502, 'bad_gateway', `${upstream.name} did not answer`);
    });
    res.on('close', () => outgoing.destroy());
    req.pipe(outgoing);
  }

  function tunnel(req: IncomingMessage, client: Duplex, head: Buffer, target: string, order: Upstream[]): void {
    const upstream = order[0];
    if (!upstream) {
      client.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const server = net.connect({ host: '127.0.0.1', port: upstream.port });
    let connected = false;
    server.once('connect', () => {
      connected = true;
      const lines = [`${req.method} ${target} HTTP/1.1`];
      for (const [name, value] of Object.entries(forwardedHeaders(req, true))) {
        for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
      }
      server.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) server.write(head);
      let set = tunnels.get(upstream.name);
      if (!set) {
        set = new Set();
        tunnels.set(upstream.name, set);
      }
      set.add(server);
      server.once('close', () => set.delete(server));
      server.once('close', () => client.destroy());
      server.pipe(client);
      client.pipe(server);
    });
    server.on('error', () => {
      if (!connected && order.length > 1) {
        tunnel(req, client, head, target, order.slice(1));
        return;
      }
      client.destroy();
    });
    client.once('close', () => server.destroy());
    client.on('error', () => server.destroy());
  }

  const server = http.createServer((req, res) => {
    const { pathname, target } = normalizedTarget(req.url);
    if (pathname === '/gateway/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    proxyRequest(req, res, target, candidates(routeFor(pathname)));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    openSockets.add(socket);
    socket.once('close', () => openSockets.delete(socket));
    const { pathname, target } = normalizedTarget(req.url);
    tunnel(req, socket, head, target, candidates(routeFor(pathname)));
  });
  server.on('connection', (socket) => {
    openSockets.add(socket);
    socket.once('close', () => openSockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;

  return {
    port: actualPort,
    // `localhost`, not 127.0.0.1: it is the origin PUBLIC_URL names, and browsers treat it as a secure context.
    url: `http://localhost:${actualPort}`,
    setUpstreams(group, upstreams) {
      groups.set(group, [...upstreams]);
    },
    openTunnels() {
      const counts: Record<string, number> = {};
      for (const [name, set] of tunnels) counts[name] = set.size;
      return counts;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of openSockets) socket.destroy();
      for (const set of tunnels.values()) for (const socket of set) socket.destroy();
      await closed;
    },
  };
}
