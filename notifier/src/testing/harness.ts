import fs from 'node:fs';
import http from 'node:http';
import type https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInProcessBus, createNatsBus, type Database, type EventBus, openDatabase } from '@confab/platform';
import { SERVICES, uniqueSuffix } from '@confab/platform/testing';
import { type MessageCreatedEvent, newEventId, newMessageId, subjects } from '@confab/protocol';
import type { Kysely } from 'kysely';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { NotifierTables } from '../adapters/schema';
import { loadNotifierConfig } from '../config';
import { type NotifierHandle, type StartNotifierOptions, startNotifier } from '../service';
import { FakeAuth } from './fakes';
import { deleteNatsStream } from './nats';

export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export interface TestNotifier {
  readonly url: string;
  readonly handle: NotifierHandle;
  readonly auth: FakeAuth;
  readonly bus: EventBus;
  readonly database: Database<NotifierTables>;
  readonly registry: Registry;
  readonly dataDir: string;
  /** The injected clock: set `clock.now` to move time. */
  readonly clock: { now: number };
  publishMessage(
    overrides: Partial<MessageCreatedEvent> & { roomId: string; authorId: string },
  ): Promise<MessageCreatedEvent>;
  publish(subject: string, event: { id: string } & Record<string, unknown>): Promise<void>;
  /** fetch against the notifier with `user`'s Bearer token. */
  api(user: { token: string } | null, pathAndQuery: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export interface TestNotifierOptions {
  env?: Record<string, string>;
  pushAgent?: https.Agent;
  /** Wraps the database handed to the notifier (query counting). */
  wrapDb?: (db: Kysely<NotifierTables>) => Kysely<NotifierTables>;
  extra?: Partial<StartNotifierOptions>;
  /** `nats` runs the bus on real NATS JetStream with a stream and subject prefix of its own. */
  busKind?: 'inprocess' | 'nats';
}

/** A notifier over SQLite and the real in-process bus (or NATS JetStream), served on port 0, with a fake auth server and a fake clock. */
export async function startTestNotifier(options: TestNotifierOptions = {}): Promise<TestNotifier> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-notifier-'));
  const database = openDatabase<NotifierTables>({ dataDir });
  const suffix = uniqueSuffix().replace(/[^A-Za-z0-9]/g, '');
  const bus =
    options.busKind === 'nats'
      ? await createNatsBus({
          url: SERVICES.nats.url,
          database,
          logger: silentLogger,
          stream: `NOTIFIER_TEST_${suffix}`,
          subjectPrefix: `t${suffix}`,
        })
      : await createInProcessBus({ database, logger: silentLogger, pollIntervalMs: 200 });
  const auth = new FakeAuth();
  const clock = { now: Date.UTC(2026, 10, 26, 12, 0) };
  const registry = new Registry();
  const config = loadNotifierConfig({
    DATA_DIR: dataDir,
    PUBLIC_URL: 'https://chat.example.test',
    PUSH_ALLOW_PRIVATE_ENDPOINTS: '1',
    ...options.env,
  });
  const notifierDatabase: Database<NotifierTables> = options.wrapDb
    ? { ...database, db: options.wrapDb(database.db) }
    : database;
  const handle = await startNotifier({
    config,
    logger: silentLogger,
    database: notifierDatabase,
    bus,
    sessions: auth,
    directory: auth,
    registry,
    clock: () => clock.now,
    dispatchIntervalMs: 50,
    heartbeatMs: 500,
    ...(options.pushAgent ? { pushAgent: options.pushAgent } : {}),
    ...options.extra,
  });
  const server = http.createServer((req, res) => handle.handleRequest(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    handle,
    auth,
    bus,
    database,
    registry,
    dataDir,
    clock,
    async publishMessage(overrides) {
      const event: MessageCreatedEvent = {
        id: newEventId(),
        messageId: newMessageId(),
        text: 'hello',
        replyTo: null,
        mentions: [],
        createdAt: clock.now,
        onlineUserIds: [],
        ...overrides,
      };
      await bus.publish(subjects.messageCreated(event.roomId), event);
      return event;
    },
    publish: (subject, event) => bus.publish(subject, event),
    api(user, pathAndQuery, init = {}) {
      const headers = new Headers(init.headers);
      if (user) headers.set('authorization', `Bearer ${user.token}`);
      if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
      return fetch(`${url}${pathAndQuery}`, { ...init, headers });
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await handle.stop();
      await bus.close();
      if (options.busKind === 'nats') await deleteNatsStream(`NOTIFIER_TEST_${suffix}`);
      await database.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface SseEvent {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: string;
}

/** Reads Server-Sent Events from a fetch response into an array as they arrive. */
export function readSse(response: Response): { events: SseEvent[]; comments: string[]; done: Promise<void> } {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const body = response.body;
  if (!body) throw new Error('no body');
  const done = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          let id: string | undefined;
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('id:')) id = line.slice(3).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
          }
          if (data.length > 0) events.push({ event, id, data: data.join('\n') });
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // aborted by the test
    }
  })();
  return { events, comments, done };
}
