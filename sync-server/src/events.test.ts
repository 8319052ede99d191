import { createInProcessBus } from '@confab/platform';
import { needService, uniqueSuffix, waitFor } from '@confab/platform/testing';
import {
  appendMessage,
  deleteMessage,
  editMessage,
  type MessageId,
  markRead,
  newMessageId,
  parseEvent,
  type UserId,
} from '@confab/protocol';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { KyselySyncStore } from './storage/sync-store';
import { openTestDatabase, startTestServer, type TestServer, messageTexts as texts } from './testing/harness';
import { MemoryBus } from './testing/memory-bus';

const roomId = () => `r${uniqueSuffix()}`;

describe('events from accepted updates (room schema guard)', () => {
  let t: TestServer;
  const bus = new MemoryBus();

  beforeAll(async () => {
    // The real guard (the default) derives the changes the events come from.
    t = await startTestServer({ bus, guard: undefined, extra: { eventSweepIntervalMs: 200 } });
  });
  afterAll(async () => {
    await t?.stop();
    await t?.db.close();
  });

  it('publishes message.created exactly as the contract says, with the users online in the room', async () => {
    const id = roomId();
    const name = `room:${id}`;
    const alice = await t.connect({ name, user: 'alice' });
    const bob = await t.connect({ name, user: 'bob' });
    const gone = await t.connect({ name, user: 'carol' });
    gone.destroy();
    await waitFor(() => t.server.hocuspocus.documents.get(name)?.getConnectionsCount() === 2);
    const messageId = newMessageId();
    const replyTo = newMessageId();
    appendMessage(alice.doc, {
      id: messageId,
      author: 'alice' as UserId,
      text: 'hello @bob',
      createdAt: 1_800_000_000_000,
      replyTo,
      mentions: ['bob' as UserId],
    });
    await alice.acknowledged();
    const subject = `confab.room.${id}.message.created`;
    await waitFor(() => bus.on(subject).length === 1);
    const event = bus.on(subject)[0];
    expect(Object.keys(event!).sort()).toEqual(
      ['id', 'roomId', 'messageId', 'authorId', 'text', 'replyTo', 'mentions', 'createdAt', 'onlineUserIds'].sort(),
    );
    expect(event).toMatchObject({
      roomId: id,
      messageId,
      authorId: 'alice',
      text: 'hello @bob',
      replyTo,
      mentions: ['bob'],
      createdAt: 1_800_000_000_000,
      onlineUserIds: ['alice', 'bob'],
    });
    expect(() => parseEvent(`confab.room.${id}.message.created`, event)).not.toThrow();
    alice.destroy();
    bob.destroy();
  });

  it('keeps onlineUserIds current as people leave and join between messages', async () => {
    const id = roomId();
    const name = `room:${id}`;
    const subject = `confab.room.${id}.message.created`;
    const alice = await t.connect({ name, user: 'alice' });
    const bob = await t.connect({ name, user: 'bob' });
    const say = async (text: string) => {
      const before = bus.on(subject).length;
      appendMessage(alice.doc, { id: newMessageId(), author: 'alice' as UserId, text, createdAt: Date.now() });
      await alice.acknowledged();
      await waitFor(() => bus.on(subject).length === before + 1);
      return (bus.on(subject).at(-1) as unknown as { onlineUserIds: string[] }).onlineUserIds;
    };
    expect(await say('both here')).toEqual(['alice', 'bob']);
    expect(await say('still both')).toEqual(['alice', 'bob']);
    bob.destroy();
    await waitFor(() => t.server.hocuspocus.documents.get(name)?.getConnectionsCount() === 1);
    expect(await say('bob left')).toEqual(['alice']);
    const carol = await t.connect({ name, user: 'carol' });
    expect(await say('carol came')).toEqual(['alice', 'carol']);
    alice.destroy();
    carol.destroy();
  });

  it('publishes an offline batch of 300 messages in the order written, and leaves no pending rows', async () => {
    const id = roomId();
    const name = `room:${id}`;
    const alice = await t.connect({ name, user: 'alice' });
    const ids: string[] = [];
    alice.doc.transact(() => {
      for (let i = 0; i < 300; i++) {
        const messageId = newMessageId();
        ids.push(messageId);
        appendMessage(alice.doc, { id: messageId, author: 'alice' as UserId, text: `batch ${i}`, createdAt: i });
      }
    });
    await alice.acknowledged();
    const subject = `confab.room.${id}.message.created`;
    await waitFor(() => bus.on(subject).length === 300, { message: 'all 300 events on the bus' });
    expect(bus.on(subject).map((e) => (e as unknown as { messageId: string }).messageId)).toEqual(ids);
    await waitFor(async () => (await t.server.store.countPendingEvents()) === 0, { message: 'outbox emptied' });
    alice.destroy();
  });

  it('publishes message.edited, message.deleted and read for edits, deletions and read markers', async () => {
    const id = roomId();
    const name = `room:${id}`;
    const alice = await t.connect({ name, user: 'alice' });
    const messageId = newMessageId() as MessageId;
    appendMessage(alice.doc, { id: messageId, author: 'alice' as UserId, text: 'first', createdAt: 1 });
    await alice.acknowledged();
    editMessage(alice.doc, messageId, 'first, edited', 2);
    await alice.acknowledged();
    markRead(alice.doc, 'alice' as UserId, messageId, 3);
    await alice.acknowledged();
    deleteMessage(alice.doc, messageId);
    await alice.acknowledged();
    const prefix = `confab.room.${id}`;
    await waitFor(() => bus.on(`${prefix}.message.deleted`).length === 1);
    const edited = bus.on(`${prefix}.message.edited`);
    expect(edited).toHaveLength(1);
    expect(edited[0]).toEqual({
      id: expect.any(String),
      roomId: id,
      messageId,
      authorId: 'alice',
      text: 'first, edited',
      editedAt: 2,
    });
    expect(bus.on(`${prefix}.read`)).toEqual([
      { id: expect.any(String), roomId: id, userId: 'alice', messageId, at: 3 },
    ]);
    expect(bus.on(`${prefix}.message.deleted`)).toEqual([
      { id: expect.any(String), roomId: id, messageId, deletedBy: 'alice' },
    ]);
    for (const p of bus.published.filter((e) => e.subject.startsWith(prefix))) {
      expect(() => parseEvent(p.subject, p.event)).not.toThrow();
    }
    alice.destroy();
  });

  it('refuses a message written in someone else’s name: closed, not stored, not seen, no event', async () => {
    const id = roomId();
    const name = `room:${id}`;
    const bob = await t.connect({ name, user: 'bob' });
    const mallory = await t.connect({ name, user: 'mallory' });
    appendMessage(mallory.doc, { id: newMessageId(), author: 'bob' as UserId, text: 'I am bob', createdAt: 1 });
    await waitFor(() => mallory.closes.some((c) => c.reason === 'forbidden_update'));
    expect(mallory.closes.find((c) => c.reason === 'forbidden_update')?.code).toBe(4422);
    mallory.destroy();
    // Its twin in its own name goes through.
    const honest = await t.connect({ name, user: 'mallory' });
    appendMessage(honest.doc, { id: newMessageId(), author: 'mallory' as UserId, text: 'I am mallory', createdAt: 2 });
    await honest.acknowledged();
    await waitFor(() => texts(bob.doc).length === 1);
    expect(texts(bob.doc)).toEqual(['I am mallory']);
    const stored = await t.server.store.load(name);
    const doc = new Y.Doc();
    for (const u of stored.updates) Y.applyUpdate(doc, u);
    expect(texts(doc)).toEqual(['I am mallory']);
    await waitFor(() => bus.on(`confab.room.${id}.message.created`).length === 1);
    expect(bus.on(`confab.room.${id}.message.created`)[0]).toMatchObject({ authorId: 'mallory' });
    bob.destroy();
    honest.destroy();
  });

  it('keeps syncing while the bus is down and publishes the held events once it is back', async () => {
    const id = roomId();
    const name = `room:${id}`;
    const alice = await t.connect({ name, user: 'alice' });
    const bob = await t.connect({ name, user: 'bob' });
    bus.setDown(true);
    const messageId = newMessageId();
    appendMessage(alice.doc, { id: messageId, author: 'alice' as UserId, text: 'while the bus is down', createdAt: 5 });
    await alice.acknowledged();
    await waitFor(() => texts(bob.doc).includes('while the bus is down'));
    const depth = async () =>
      (await t.registry.getSingleMetric('confab_sync_outbox_depth')?.get())?.values[0]?.value ?? Number.NaN;
    expect(await depth()).toBeGreaterThanOrEqual(1);
    expect(bus.on(`confab.room.${id}.message.created`)).toHaveLength(0);
    bus.setDown(false);
    await waitFor(() => bus.on(`confab.room.${id}.message.created`).length === 1, { timeoutMs: 5000 });
    expect(bus.on(`confab.room.${id}.message.created`)[0]).toMatchObject({ messageId });
    await waitFor(async () => (await depth()) === 0);
    alice.destroy();
    bob.destroy();
  });

  it('an event the bus refuses holds back only its own room', async () => {
    const [stuck, free] = [roomId(), roomId()];
    const a = await t.connect({ name: `room:${stuck}`, user: 'alice' });
    const b = await t.connect({ name: `room:${free}`, user: 'alice' });
    // Both events wait in the table, the refused one first in line.
    bus.setDown(true);
    appendMessage(a.doc, { id: newMessageId(), author: 'alice' as UserId, text: 'stuck', createdAt: 1 });
    await a.acknowledged();
    appendMessage(b.doc, { id: newMessageId(), author: 'alice' as UserId, text: 'free', createdAt: 2 });
    await b.acknowledged();
    bus.refuse(`confab.room.${stuck}.>`);
    bus.setDown(false);
    await waitFor(() => bus.on(`confab.room.${free}.message.created`).length === 1, { timeoutMs: 5000 });
    expect(bus.on(`confab.room.${stuck}.message.created`)).toHaveLength(0);
    bus.refuse(null);
    await waitFor(() => bus.on(`confab.room.${stuck}.message.created`).length === 1, { timeoutMs: 5000 });
    a.destroy();
    b.destroy();
  });
});

describe('events of a stored update', () => {
  it('survive a server that stopped before the bus took them, and go out from the next one', async () => {
    const db = await openTestDatabase('sqlite');
    const deadBus = new MemoryBus();
    deadBus.setDown(true);
    const first = await startTestServer({ database: db, bus: deadBus, guard: undefined });
    const id = roomId();
    const alice = await first.connect({ name: `room:${id}`, user: 'alice' });
    const messageId = newMessageId();
    appendMessage(alice.doc, { id: messageId, author: 'alice' as UserId, text: 'outlives its server', createdAt: 1 });
    await alice.acknowledged();
    await first.stop();
    expect(deadBus.published).toHaveLength(0);

    const liveBus = new MemoryBus();
    const second = await startTestServer({
      database: db,
      bus: liveBus,
      guard: undefined,
      extra: { eventSweepIntervalMs: 100 },
    });
    await waitFor(() => liveBus.on(`confab.room.${id}.message.created`).length === 1, { timeoutMs: 5000 });
    expect(liveBus.on(`confab.room.${id}.message.created`)[0]).toMatchObject({
      messageId,
      text: 'outlives its server',
    });
    await second.stop();
    await db.close();
  });
});

const kinds = (await needService('postgres')) ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

describe('events with the in-process bus on the same database', () => {
  // On PostgreSQL the log rows and the bus's events go in one statement (pgSingleStatement), the bus's lock within it.
  it.each(kinds)(
    '(%s) are committed into the bus’s log with their update: no outbox row, delivered to a subscriber',
    async (kind) => {
      const db = await openTestDatabase(kind);
      const bus = await createInProcessBus({ database: db.database, logger: pino({ level: 'silent' }) });
      const t = await startTestServer({ database: db, bus, guard: undefined });
      expect(t.server.store.publishesOnAppend).toBe(true);
      const got: Array<{ subject: string; messageId: unknown }> = [];
      const sub = await bus.subscribe({
        durable: 'test-inline-events',
        subjects: ['confab.room.>'],
        handler: async (d) => {
          got.push({ subject: d.subject, messageId: d.event.messageId });
        },
      });
      const id = roomId();
      const alice = await t.connect({ name: `room:${id}`, user: 'alice' });
      const ids = [newMessageId(), newMessageId()];
      for (const [i, messageId] of ids.entries()) {
        appendMessage(alice.doc, { id: messageId, author: 'alice' as UserId, text: `inline ${i}`, createdAt: i });
      }
      await alice.acknowledged();
      // Acknowledged means committed, and the events were in the same transaction.
      const inLog = await sql<{ subject: string; payload: string }>`
      select subject, payload from bus_events where subject = ${`confab.room.${id}.message.created`} order by seq
    `.execute(db.database.db);
      expect(inLog.rows.map((r) => JSON.parse(r.payload).messageId)).toEqual(ids);
      expect(await t.server.store.countPendingEvents()).toBe(0);
      await waitFor(() => got.length === 2, { message: 'the subscriber got both' });
      expect(got.map((g) => g.messageId)).toEqual(ids);
      alice.destroy();
      await sub.stop();
      await t.stop();
      await bus.close();
      await db.close();
    },
  );

  it('a store on another database than the bus’s keeps its own outbox', async () => {
    const [mine, theirs] = await Promise.all([openTestDatabase('sqlite'), openTestDatabase('sqlite')]);
    const bus = await createInProcessBus({ database: theirs.database, logger: pino({ level: 'silent' }) });
    const store = new KyselySyncStore({ database: mine.database, bus });
    expect(store.publishesOnAppend).toBe(false);
    await bus.close();
    await Promise.all([mine.close(), theirs.close()]);
  });
});
