import { SERVICES } from '@confab/platform/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

/** Removes a test's JetStream stream (and its consumers) so runs leave nothing behind. */
export async function deleteNatsStream(stream: string): Promise<void> {
  const nc = await connect({ servers: SERVICES.nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => false);
  } finally {
    await nc.close();
  }
}
