import { createLogger, createNatsBus, type Delivery, openDatabase } from '@confab/platform';
import { needService, SERVICES, uniqueSuffix, waitFor } from '@confab/platform/testing';
import { subjects } from '@confab/protocol';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, registerUser, startTestAuthServer, type TestAuthServer } from '../test-support/harness';

const nats = await needService('nats');

describe.skipIf(!nats)('auth events on real NATS JetStream', () => {
  const suffix = uniqueSuffix().replace(/[^A-Za-z0-9]/g, '');
  const stream = `CONFAB_AUTH_T_${suffix}`;
  const subjectPrefix = `t${suffix}`;
  const logger = createLogger({ name: 'auth-nats-test', level: 'silent' });
  const publisherDb = openDatabase({ dataDir: '.', sqliteFile: ':memory:' });
  const consumerDb = openDatabase({ dataDir: '.', sqliteFile: ':memory:' });
  let server: TestAuthServer;
  let consumer: Awaited<ReturnType<typeof createNatsBus>>;
  const received: Delivery[] = [];

  beforeAll(async () => {
    const bus = await createNatsBus({ url: SERVICES.nats.url, database: publisherDb, logger, stream, subjectPrefix });
    server = await startTestAuthServer({ bus, database: publisherDb });
    // A second connection, as the sync server would have: the event must travel through NATS.
    consumer = await createNatsBus({ url: SERVICES.nats.url, database: consumerDb, logger, stream, subjectPrefix });
    await consumer.subscribe({
      durable: `auth_test_${suffix}`,
      subjects: [subjects.allAuthEvents],
      handler: async (delivery) => {
        received.push(delivery);
      },
    });
  });

  afterAll(async () => {
    await server.stop();
    await server.bus.close();
    await consumer.close();
    await publisherDb.close();
    await consumerDb.close();
    const nc = await connect({ servers: SERVICES.nats.url });
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
    await nc.close();
  });

  it('delivers session.revoked for a logout and membership.changed for a new room', async () => {
    const api = apiClient(server.url);
    const user = await registerUser(api);
    const sessionId = (await api('GET', '/api/auth/sessions', { token: user.token })).body.sessions[0].id;
    const room = await api('POST', '/api/rooms', { token: user.token, body: { name: 'Over NATS' } });
    expect((await api('POST', '/api/auth/logout', { token: user.token })).status).toBe(204);

    const revoked = await waitFor(() => received.find((d) => d.subject === subjects.sessionRevoked), {
      timeoutMs: 10_000,
      message: 'session.revoked on NATS',
    });
    expect(revoked.event).toEqual({ id: expect.any(String), sessionId, userId: user.userId });
    const changed = await waitFor(() => received.find((d) => d.subject === subjects.membershipChanged), {
      timeoutMs: 10_000,
      message: 'membership.changed on NATS',
    });
    expect(changed.event).toMatchObject({ roomId: room.body.room.id, userId: user.userId, role: 'owner' });
  });
});
