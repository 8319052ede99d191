import { getOrCreate } from '@confab/platform';
import { Counter, Histogram, type Registry } from 'prom-client';

export interface NotifierMetrics {
  readonly events: Counter<'kind'>;
  readonly deliveries: Counter<'channel' | 'result'>;
  readonly deadLetters: Counter;
  readonly deliveryLatency: Histogram<'channel'>;
}

/** Registers the notifier's metrics in the given registry (the all-in-one shares one; a second start reuses them). */
export function createNotifierMetrics(registry: Registry): NotifierMetrics {
  return {
    events: getOrCreate(
      registry,
      'confab_notifier_events_total',
      () =>
        new Counter({
          name: 'confab_notifier_events_total',
          help: 'Bus events handled by the notifier, by kind.',
          labelNames: ['kind'],
          registers: [registry],
        }),
    ),
    deliveries: getOrCreate(
      registry,
      'confab_notifier_deliveries_total',
      () =>
        new Counter({
          name: 'confab_notifier_deliveries_total',
          help: 'Notification deliveries by channel (inapp, push, email) and result.',
          labelNames: ['channel', 'result'],
          registers: [registry],
        }),
    ),
    deadLetters: getOrCreate(
      registry,
      'confab_notifier_dead_letters_total',
      () =>
        new Counter({
          name: 'confab_notifier_dead_letters_total',
          help: 'Events the notifier gave up on (they go to the dead-letter subject).',
          registers: [registry],
        }),
    ),
    deliveryLatency: getOrCreate(
      registry,
      'confab_notifier_delivery_latency_seconds',
      () =>
        new Histogram({
          name: 'confab_notifier_delivery_latency_seconds',
          help: 'From the notification being recorded to the push or email being accepted.',
          labelNames: ['channel'],
          buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
          registers: [registry],
        }),
    ),
  };
}
