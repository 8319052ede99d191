import type { BusEvent, EventBus, SubscribeOptions } from '@confab/platform';
import { subjectMatches } from '@confab/platform';

/**
 * A test double of the EventBus port: keeps what was published, hands it to
 * subscribers, and can be switched to fail (a dead bus) or report unhealthy.
 */
export interface MemoryBus extends EventBus {
  readonly published: { subject: string; event: BusEvent }[];
  failing: boolean;
  eventsOn(subject: string): BusEvent[];
}

export function createMemoryBus(): MemoryBus {
  const subscribers: SubscribeOptions[] = [];
  const bus: MemoryBus = {
    published: [],
    failing: false,
    eventsOn: (subject) => bus.published.filter((p) => p.subject === subject).map((p) => p.event),
    async publish(subject, event) {
      if (bus.failing) throw new Error('bus unreachable');
      bus.published.push({ subject, event });
      for (const s of subscribers) {
        if (s.subjects.some((f) => subjectMatches(f, subject))) await s.handler({ subject, event, attempt: 1 });
      }
    },
    async subscribe(options) {
      subscribers.push(options);
      return { stop: async () => void subscribers.splice(subscribers.indexOf(options), 1) };
    },
    healthy: async () => !bus.failing,
    close: async () => {},
  };
  return bus;
}
