import { type BusEvent, type Delivery, type EventBus, type SubscribeOptions, subjectMatches } from '@confab/platform';

/**
 * An in-memory EventBus double for the sync server's own tests (the real
 * adapters and their contract suite live in platform/src/bus). Keeps every
 * published event, delivers to matching subscriptions, retries a throwing
 * handler a few times, and can be switched "down" to test outages.
 */
export class MemoryBus implements EventBus {
  readonly published: Array<{ subject: string; event: BusEvent }> = [];
  private readonly subscriptions = new Set<SubscribeOptions>();
  private down = false;
  private refused: string | null = null;

  setDown(down: boolean): void {
    this.down = down;
  }

  /** Refuses publishes on subjects matching `filter` (a poison event), or nothing when null. */
  refuse(filter: string | null): void {
    this.refused = filter;
  }

  async publish(subject: string, event: BusEvent): Promise<void> {
    if (this.down) throw new Error('bus unavailable');
    if (this.refused && subjectMatches(this.refused, subject)) throw new Error(`refused ${subject}`);
    this.published.push({ subject, event: structuredClone(event) });
    for (const subscription of this.subscriptions) {
      if (!subscription.subjects.some((filter) => subjectMatches(filter, subject))) continue;
      void this.deliver(subscription, { subject, event: structuredClone(event), attempt: 1 });
    }
  }

  private async deliver(subscription: SubscribeOptions, delivery: Delivery): Promise<void> {
    try {
      await subscription.handler(delivery);
    } catch {
      if (delivery.attempt < (subscription.maxDeliver ?? 5)) {
        setTimeout(() => void this.deliver(subscription, { ...delivery, attempt: delivery.attempt + 1 }), 50);
      }
    }
  }

  async subscribe(options: SubscribeOptions) {
    this.subscriptions.add(options);
    return {
      stop: async () => {
        this.subscriptions.delete(options);
      },
    };
  }

  async healthy(): Promise<boolean> {
    return !this.down;
  }

  async close(): Promise<void> {
    this.subscriptions.clear();
  }

  /** Events published on subjects matching `filter`. */
  on(filter: string): BusEvent[] {
    return this.published.filter((p) => subjectMatches(filter, p.subject)).map((p) => p.event);
  }
}
