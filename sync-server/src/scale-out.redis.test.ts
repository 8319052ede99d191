import { needService, SERVICES, uniqueSuffix, waitFor } from '@confab/platform/testing';
import { appendMessage, newEventId, newMessageId, subjects, type UserId } from '@confab/protocol';
import { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncTables } from './storage/schema';
import {
  openTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
  messageTexts as texts,
} from './testing/harness';
import { MemoryBus } from './testing/memory-bus';
import { createTokenIssuer } from './testing/tokens';

const redisUp = await needService('redis');
const pgUp = await needService('postgres');

describe.skipIf(!redisUp || !pgUp)('two instances behind Redis (PostgreSQL)', () => {
  const prefix = `confab-test-${uniqueSuffix()}`;
  const bus = new MemoryBus();
  let db: TestDatabase;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    db = await openTestDatabase('postgres');
    const issuer = await createTokenIssuer();
    const env = { REDIS_URL: SERVICES.redis.url, REDIS_PREFIX: prefix };
    // The real guard on both, and one bus they share (each instance has its own durable consumer on it).
    a = await startTestServer({ database: db, bus, issuer, guard: undefined, env: { ...env, SYNC_INSTANCE_ID: 'a' } });
    b = await startTestServer({ database: db, bus, issuer, guard: undefined, env: { ...env, SYNC_INSTANCE_ID: 'b' } });
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await db?.close();
    const redis = new Redis(SERVICES.redis.url);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const rows = async (name: string) =>
    (db.database.db as unknown as Kysely<SyncTables>)
      .selectFrom('sync_updates')
      .select('seq')
      .where('document', '=', name)
      .execute();

  it('clients on different instances converge, and each change is stored once, by the instance that received it', async () => {
    const roomId = `r${uniqueSuffix()}`;
    const name = `room:${roomId}`;
    const onA = await a.connect({ name, user: 'alice' });
    const onB = await b.connect({ name, user: 'bob' });
    appendMessage(onA.doc, { id: newMessageId(), author: 'alice' as UserId, text: 'from A', createdAt: 1 });
    await onA.acknowledged();
    appendMessage(onB.doc, { id: newMessageId(), author: 'bob' as UserId, text: 'from B', createdAt: 2 });
    await onB.acknowledged();
    await waitFor(() => texts(onA.doc).length === 2 && texts(onB.doc).length === 2, { timeoutMs: 5000 });
    expect(texts(onA.doc)).toEqual(texts(onB.doc));
    // Give Redis time to carry each change to the other instance, then count the log rows.
    await waitFor(() => texts(a.server.hocuspocus.documents.get(name)!).length === 2);
    await waitFor(() => texts(b.server.hocuspocus.documents.get(name)!).length === 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await rows(name)).toHaveLength(2);
    onA.destroy();
    onB.destroy();
  });

  it('counts users connected to another instance as online in message.created', async () => {
    const roomId = `r${uniqueSuffix()}`;
    const name = `room:${roomId}`;
    const onB = await b.connect({ name, user: 'bob' });
    const onA = await a.connect({ name, user: 'alice' });
    appendMessage(onA.doc, { id: newMessageId(), author: 'alice' as UserId, text: 'hi bob', createdAt: 3 });
    await onA.acknowledged();
    const subject = `confab.room.${roomId}.message.created`;
    await waitFor(() => bus.on(subject).length === 1);
    expect(bus.on(subject)[0]).toMatchObject({ onlineUserIds: ['alice', 'bob'] });
    onA.destroy();
    onB.destroy();
  });

  it('revocation reaches connections on every instance', async () => {
    const name = `room:r${uniqueSuffix()}`;
    const onA = await a.connect({ name, user: 'carol', sid: 'sessX' });
    const onB = await b.connect({ name, user: 'carol', sid: 'sessX' });
    await bus.publish(subjects.sessionRevoked, { id: newEventId(), sessionId: 'sessX', userId: 'carol' });
    await waitFor(() => onA.closes.length > 0 && onB.closes.length > 0, { timeoutMs: 5000 });
    expect(onA.closes[0]).toEqual({ code: 4401, reason: 'session_revoked' });
    expect(onB.closes[0]).toEqual({ code: 4401, reason: 'session_revoked' });
    onA.destroy();
    onB.destroy();
  });
});
