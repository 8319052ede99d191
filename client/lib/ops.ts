import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * The client process's own `/healthz`, `/readyz` and `/metrics` (CONTRACT:
 * every service serves them), as Next.js route handlers, so they answer
 * wherever the app runs alone: its image (Next's standalone server) and
 * `npm start -w client`. In the all-in-one process the ops handler in front
 * of the routing answers these paths for every service and they never reach
 * Next. The web app has no database or bus, so it is ready once it serves.
 */
const NO_STORE = { 'cache-control': 'no-store' };

export function healthz(): Response {
  return Response.json({ status: 'ok' }, { headers: NO_STORE });
}

export function readyz(): Response {
  return Response.json({ status: 'ready', services: { client: true } }, { headers: NO_STORE });
}

/** One registry per process: a route module may be evaluated more than once (dev reloads, several bundles). */
const REGISTRY_KEY = Symbol.for('confab.client.metrics');

function registry(): Registry {
  const holder = globalThis as typeof globalThis & { [REGISTRY_KEY]?: Registry };
  let existing = holder[REGISTRY_KEY];
  if (!existing) {
    existing = new Registry();
    collectDefaultMetrics({ register: existing });
    holder[REGISTRY_KEY] = existing;
  }
  return existing;
}

export async function metrics(): Promise<Response> {
  const metricsRegistry = registry();
  return new Response(await metricsRegistry.metrics(), {
    headers: { 'content-type': metricsRegistry.contentType, ...NO_STORE },
  });
}
