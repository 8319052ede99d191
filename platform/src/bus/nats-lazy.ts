import type { NatsBus, NatsBusOptions } from './nats';

/**
 * `createNatsBus` that loads the NATS client (its core, JetStream and
 * transport modules) only when a NATS bus is asked for, so a process on the
 * in-process bus (the all-in-one) never holds them in memory.
 */
export async function createNatsBus(options: NatsBusOptions): Promise<NatsBus> {
  const nats = await import('./nats');
  return nats.createNatsBus(options);
}
