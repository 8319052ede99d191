import { createNatsBus, type Delivery, type NatsBus } from '@confab/platform';
import { needService, SERVICES, uniqueSuffix, waitFor } from '@confab/platform/testing';
import { appendMessage, newEventId, newMessageId, parseEvent, subjects, type UserId } from '@confab/protocol';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, startTestServer, type TestDatabase, type TestServer } from './testing/harness';

const nats = await needService('nats');

describe.skipIf(!nats)('the sync server on the real NATS JetStream bus', () => {
  const suffix = uniqueSuffix().replace(/[^A-Za-z0-9]/g, '');
  const stream = `CONFAB_T_${suffix}`;
  const subjectPrefix = `t${suffix}`;
  let serverDb: TestDatabase;
  let consumerDb: TestDatabase;
  let serverBus: NatsBus;
  let consumerBus: NatsBus;
  let t: TestServer;
  const received: Delivery[] = [];

  beforeAll(async () => {
    serverDb = await openTestDatabase('sqlite');
    consumerDb = await openTestDatabase('sqlite');
    const logger = pino({ level: 'silent' });
    const options = { url: SERVICES.nats.url, logger, stream, subjectPrefix };
    serverBus = await createNatsBus({ ...options, database: serverDb.database });
    // Another service (think: the notifier), with its own database and durable consumer.
    consumerBus = await createNatsBus({ ...options, database: consumerDb.database });
    await consumerBus.subscribe({
      durable: 'test-notifier',
      subjects: [subjects.allRoomEvents],
      handler: async (delivery) => {
        received.push(delivery);
      },
    });
    t = await startTestServer({ database: serverDb, bus: serverBus, guard: undefined });
  });

  afterAll(async () => {
    await t?.stop();
    await serverBus?.close();
    await consumerBus?.close();
    await serverDb?.close();
    await consumerDb?.close();
    const nc = await connect({ servers: SERVICES.nats.url });
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
    await nc.close();
  });

  it('delivers message.created to another service exactly in the contract’s shape', async () => {
    const roomId = `r${suffix}`;
    const alice = await t.connect({ name: `room:${roomId}`, user: 'alice' });
    const messageId = newMessageId();
    appendMessage(alice.doc, { id: messageId, author: 'alice' as UserId, text: 'over NATS', createdAt: 7 });
    await alice.acknowledged();
    await waitFor(() => received.some((d) => d.subject === subjects.messageCreated(roomId)), { timeoutMs: 10_000 });
    const delivery = received.find((d) => d.subject === subjects.messageCreated(roomId))!;
    expect(parseEvent(delivery.subject, delivery.event).kind).toBe('message.created');
    expect(delivery.event).toEqual({
      id: expect.any(String),
      roomId,
      messageId,
      authorId: 'alice',
      text: 'over NATS',
      replyTo: null,
      mentions: [],
      createdAt: 7,
      onlineUserIds: ['alice'],
    });
    alice.destroy();
  });

  it('closes a revoked session’s connection when the auth server says so over NATS', async () => {
    const alice = await t.connect({ name: `room:r2${suffix}`, user: 'alice', sid: 'natsSession' });
    await consumerBus.publish(subjects.sessionRevoked, {
      id: newEventId(),
      sessionId: 'natsSession',
      userId: 'alice',
    });
    await waitFor(() => alice.closes.length > 0, { timeoutMs: 5000 });
    expect(alice.closes[0]).toEqual({ code: 4401, reason: 'session_revoked' });
    alice.destroy();
  });
});
