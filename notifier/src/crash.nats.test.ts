import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createNatsBus, type NatsBus, openDatabase } from '@confab/platform';
import { createTestPostgres, needService, SERVICES, uniqueSuffix, waitFor } from '@confab/platform/testing';
import { type MessageCreatedEvent, newEventId, newMessageId, subjects } from '@confab/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushTopic } from './adapters/push';
import type { NotifierTables } from './adapters/schema';
import { serveFakeAuth } from './testing/auth-http';
import { FakeAuth } from './testing/fakes';
import { readSse, silentLogger } from './testing/harness';
import { deleteNatsStream } from './testing/nats';
import { type PushService, startPushService } from './testing/push-service';

const ready = (await needService('nats')) && (await needService('postgres'));
const MAIN = path.resolve(import.meta.dirname, 'main.ts');
const INTERNAL_TOKEN = 'internal-test-token';
const RECEIVERS = 5;
const MESSAGES = 60;

/** The standalone notifier as its own process; resolves with its port once it listens. */
function startChild(env: Record<string, string>): { child: ChildProcess; port: Promise<number>; log: string[] } {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: path.dirname(MAIN),
    env: { PATH: process.env.PATH ?? '', ...env } as unknown as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const port = new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        log.push(line);
        const match = /"port":(\d+).*notifier listening/.exec(line);
        if (match) resolve(Number(match[1]));
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString()));
    child.once('exit', (code) => reject(new Error(`notifier exited with ${code}: ${log.join('\n')}`)));
  });
  return { child, port, log };
}

describe.skipIf(!ready)('exactly once across a kill -9 (standalone process, NATS JetStream, PostgreSQL)', () => {
  let push: PushService;
  let pg: { url: string; drop: () => Promise<void> };
  let authServer: { url: string; close: () => Promise<void> };
  let bus: NatsBus;
  let publisherDb: ReturnType<typeof openDatabase>;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-notifier-crash-'));
  const suffix = uniqueSuffix().replace(/[^A-Za-z0-9]/g, '');
  const auth = new FakeAuth();
  const children: ChildProcess[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    push = await startPushService();
    pg = await createTestPostgres();
    authServer = await serveFakeAuth(auth, INTERNAL_TOKEN);
    fs.writeFileSync(path.join(dataDir, 'push-ca.pem'), push.certPem);
    publisherDb = openDatabase({ dataDir, sqliteFile: 'publisher.db' });
    bus = await createNatsBus({
      url: SERVICES.nats.url,
      database: publisherDb,
      logger: silentLogger,
      stream: `NOTIFIER_CRASH_${suffix}`,
      subjectPrefix: `crash${suffix}`,
    });
    env = {
      PORT: '0',
      DATA_DIR: dataDir,
      DATABASE_URL: pg.url,
      NATS_URL: SERVICES.nats.url,
      NATS_STREAM: `NOTIFIER_CRASH_${suffix}`,
      NATS_SUBJECT_PREFIX: `crash${suffix}`,
      NOTIFIER_ACK_WAIT_MS: '1500',
      AUTH_URL: authServer.url,
      INTERNAL_API_TOKEN: INTERNAL_TOKEN,
      PUBLIC_URL: 'https://chat.example.test',
      PUSH_ALLOW_PRIVATE_ENDPOINTS: '1',
      NODE_EXTRA_CA_CERTS: path.join(dataDir, 'push-ca.pem'),
      LOG_LEVEL: 'info',
    };
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await bus?.close();
    await deleteNatsStream(`NOTIFIER_CRASH_${suffix}`);
    await publisherDb?.close();
    await push?.close();
    await authServer?.close();
    await pg?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('sends every notification after a restart, records each in-app once, and repeats at most the pushes in flight', async () => {
    const members = ['ann', ...Array.from({ length: RECEIVERS }, (_, i) => `r${i}`)];
    const users = members.map((id) => auth.addUser(id));
    auth.addRoom('room1', 'Crash room', members);

    const first = startChild(env);
    children.push(first.child);
    const port = await first.port;
    for (const user of users.slice(1)) {
      const res = await fetch(`http://127.0.0.1:${port}/api/push/subscriptions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(push.browser(`browser-${user.id}`).subscription),
      });
      expect(res.status).toBe(201);
    }

    // A slow push service keeps the batch in flight when the process dies.
    push.delayMs = 15;
    const events: MessageCreatedEvent[] = [];
    for (let n = 0; n < MESSAGES; n++) {
      const event: MessageCreatedEvent = {
        id: newEventId(),
        roomId: 'room1',
        messageId: newMessageId(),
        authorId: 'ann',
        text: `message ${n}`,
        replyTo: null,
        mentions: [],
        createdAt: Date.now(),
        onlineUserIds: [],
      };
      events.push(event);
      await bus.publish(subjects.messageCreated('room1'), event);
    }
    const expected = MESSAGES * RECEIVERS;
    await waitFor(() => push.received.length >= expected / 4, { timeoutMs: 20_000 });
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    const atKill = push.received.length;
    expect(atKill).toBeLessThan(expected);

    const second = startChild(env);
    children.push(second.child);
    await second.port;
    await waitFor(
      () => {
        const seen = new Set(
          push.received.map((p) => `${(p.payload as { messageId: string }).messageId}|${p.browser}`),
        );
        return seen.size === expected;
      },
      { timeoutMs: 25_000, message: 'every push after the restart' },
    );
    // Give a wrongly repeated batch the chance to show up.
    await new Promise((r) => setTimeout(r, 500));

    const counts = new Map<string, number>();
    for (const p of push.received) {
      const key = `${(p.payload as { messageId: string }).messageId}|${p.browser}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      expect(p.topic).toBe(pushTopic('room1'));
    }
    const repeats = [...counts.values()].filter((n) => n > 1).length;
    // A push handed to the OS before the kill is not sent again. The one
    // window left is between a hand-off and its row's update (one database
    // write), so a repeat is possible but rare; it is bounded by the pushes
    // in flight and carries the same Topic (the browser collapses it).
    expect(repeats).toBeLessThanOrEqual(8);
    expect([...counts.values()].every((n) => n <= 2)).toBe(true);
    expect(counts.size).toBe(expected);

    const db = openDatabase<NotifierTables>({ databaseUrl: pg.url, dataDir });
    try {
      const inApp = await db.db.selectFrom('notifier_notifications').select(['message_id', 'user_id']).execute();
      expect(inApp).toHaveLength(expected);
      expect(new Set(inApp.map((r) => `${r.message_id}|${r.user_id}`)).size).toBe(expected);
      const pending = await db.db
        .selectFrom('notifier_deliveries')
        .select('status')
        .where('channel', '=', 'push')
        .where('status', '!=', 'sent')
        .execute();
      expect(pending).toEqual([]);
    } finally {
      await db.close();
    }
    const secondPort = await second.port;
    const readyz = await fetch(`http://127.0.0.1:${secondPort}/readyz`);
    expect(readyz.status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${secondPort}/metrics`)).text();
    expect(metrics).toContain('confab_notifier_deliveries_total{channel="push",result="sent"}');
    // SIGTERM with a live SSE stream open: the stream ends and the process exits 0 promptly.
    const live = readSse(
      await fetch(`http://127.0.0.1:${secondPort}/api/notifications/stream`, {
        headers: { authorization: `Bearer ${users[1]!.token}` },
      }),
    );
    await waitFor(() => live.events.some((e) => e.event === 'ready'));
    const termAt = Date.now();
    second.child.kill('SIGTERM');
    const code = await new Promise((resolve) => second.child.once('exit', resolve));
    expect(code).toBe(0);
    await live.done;
    expect(Date.now() - termAt).toBeLessThan(5000);
    console.info(`kill -9 after ${atKill}/${expected} pushes; repeated after restart: ${repeats}`);
  }, 90_000);
});
