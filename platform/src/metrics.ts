import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * A Prometheus registry. A standalone service collects process metrics too;
 * the all-in-one process creates one registry with them and hands it to
 * every service, so each process metric is registered once.
 */
export function createRegistry({ processMetrics = false }: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (processMetrics) collectDefaultMetrics({ register: registry });
  return registry;
}

/** Returns the metric if the registry already has it (services can be started twice in one process in tests). */
export function getOrCreate<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/** `<prefix>_http_request_duration_seconds{method,route,status}`; route is the pattern, never the raw path. */
export function httpRequestHistogram(registry: Registry, prefix: string): Histogram<'method' | 'route' | 'status'> {
  const name = `${prefix}_http_request_duration_seconds`;
  return getOrCreate(
    registry,
    name,
    () =>
      new Histogram({
        name,
        help: 'HTTP request duration by method, route pattern and status',
        labelNames: ['method', 'route', 'status'] as const,
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
        registers: [registry],
      }),
  );
}
