import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { ServiceHandle } from '../ports';

/**
 * Serves `/healthz` (the process is alive), `/readyz` (every service's
 * database and bus answer) and `/metrics` (Prometheus text) for a list of
 * services. The standalone mains and the all-in-one put it in front of their
 * routing. Returns false for any other path so the caller routes it on.
 */
export function createOpsHandler({
  handles,
  registry,
}: {
  handles: () => readonly Pick<ServiceHandle, 'name' | 'ready'>[];
  registry: Registry;
}): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (path === '/healthz') {
      send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }));
      return true;
    }
    if (path === '/readyz') {
      void readiness(handles()).then(
        (services) => {
          const ok = Object.values(services).every(Boolean);
          send(res, ok ? 200 : 503, 'application/json', JSON.stringify({ status: ok ? 'ready' : 'unready', services }));
        },
        () => send(res, 503, 'application/json', JSON.stringify({ status: 'unready' })),
      );
      return true;
    }
    if (path === '/metrics') {
      void registry.metrics().then(
        (text) => send(res, 200, registry.contentType, text),
        () => send(res, 500, 'text/plain', 'metrics failed\n'),
      );
      return true;
    }
    return false;
  };
}

async function readiness(handles: readonly Pick<ServiceHandle, 'name' | 'ready'>[]): Promise<Record<string, boolean>> {
  const entries = await Promise.all(handles.map(async (h) => [h.name, await h.ready().catch(() => false)] as const));
  return Object.fromEntries(entries);
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}
