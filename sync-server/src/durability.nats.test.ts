import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { needService, SERVICES, uniqueSuffix, waitFor } from '@confab/platform/testing';
import { appendMessage, newMessageId, type UserId } from '@confab/protocol';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient } from './testing/harness';
import { createTokenIssuer } from './testing/tokens';

const nats = await needService('nats');
const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsx = path.resolve(packageDir, '..', 'node_modules', '.bin', 'tsx');
const ITERATIONS = Number(process.env.KILL9_ITERATIONS ?? 20);

interface Child {
  process: ChildProcess;
  port: number;
}

describe.skipIf(!nats)('durability against kill -9 (the real main.ts as a child process)', () => {
  const suffix = uniqueSuffix().replace(/[^A-Za-z0-9]/g, '');
  const stream = `CONFAB_T_${suffix}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-sync-kill-'));
  let issuer: Awaited<ReturnType<typeof createTokenIssuer>>;
  let auth: Server;
  const running = new Set<ChildProcess>();

  beforeAll(async () => {
    issuer = await createTokenIssuer();
    // Stands in for the auth server: only the JWKS endpoint is needed.
    auth = createServer((req, res) => {
      res.writeHead(req.url === '/api/auth/jwks' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(issuer.publicJwks));
    });
    await new Promise<void>((resolve) => auth.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    // A failed assertion must not leave a server behind.
    for (const child of running) if (child.pid) process.kill(-child.pid, 'SIGKILL');
    await new Promise((resolve) => auth?.close(resolve));
    const nc = await connect({ servers: SERVICES.nats.url });
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
    await nc.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  function start(env: Record<string, string> = {}): Promise<Child> {
    const child = spawn(tsx, ['src/main.ts'], {
      cwd: packageDir,
      // Its own process group, so kill -9 reaches the node process tsx starts, not just tsx.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PORT: '0',
        DATA_DIR: dataDir,
        NATS_URL: SERVICES.nats.url,
        NATS_STREAM: stream,
        NATS_SUBJECT_PREFIX: `t${suffix}`,
        AUTH_URL: `http://127.0.0.1:${(auth.address() as AddressInfo).port}`,
        SYNC_INSTANCE_ID: 'kill9',
        LOG_LEVEL: 'info',
        ...env,
      },
    });
    running.add(child);
    child.on('exit', () => running.delete(child));
    let output = '';
    return new Promise<Child>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child did not start:\n${output}`)), 20_000);
      child.stderr?.on('data', (d) => {
        output += d;
      });
      child.stdout?.on('data', (d: Buffer) => {
        output += d;
        const m = /"port":(\d+),"database"/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve({ process: child, port: Number(m[1]) });
        }
      });
      child.on('exit', (code) => reject(new Error(`child exited with ${code}:\n${output}`)));
    });
  }

  function kill9(child: Child): Promise<void> {
    return new Promise((resolve) => {
      child.process.on('exit', () => resolve());
      process.kill(-child.process.pid!, 'SIGKILL');
    });
  }

  it(`keeps every acknowledged update across ${ITERATIONS} kill -9s`, { timeout: 180_000 }, async () => {
    const name = `room:kill${suffix}`;
    const expected: string[] = [];
    for (let i = 0; i <= ITERATIONS; i++) {
      const child = await start();
      const token = await issuer.sign({ sub: 'alice', doc: name });
      const client = await connectClient(`ws://127.0.0.1:${child.port}/sync`, token, { name, user: 'alice' });
      const texts = () =>
        client.doc
          .getArray<{ text: string }>('messages')
          .toArray()
          .map((m) => m.text);
      const post = (text: string) =>
        appendMessage(client.doc, { id: newMessageId(), author: 'alice' as UserId, text, createdAt: Date.now() });
      // Everything acknowledged before the previous kill is there after the restart.
      await waitFor(() => texts().length >= expected.length, {
        message: `${expected.length} messages after restart ${i}`,
      });
      const seen = texts();
      for (const text of expected) expect(seen).toContain(text);
      // A write that was never acknowledged may or may not have made it; nothing else may appear.
      for (const text of seen) if (!expected.includes(text)) expect(text).toMatch(/^unacknowledged /);
      if (i < ITERATIONS) {
        const text = `message ${i}`;
        post(text);
        await client.acknowledged();
        expected.push(text);
        post(`unacknowledged ${i}`);
        await kill9(child);
        client.destroy();
      } else {
        client.destroy();
        await kill9(child);
      }
    }
  });

  it('keeps every acknowledged update across kill -9s in the middle of compactions and checkpoints', {
    timeout: 180_000,
  }, async () => {
    // A log of 1 KiB is compacted (or, once there is a snapshot, a log as large as it): each round writes
    // a new room in two bursts, each starting a compaction that the merge thread writes and then
    // checkpoints on its own connection while the loop's group commits go on, and kill -9 falls right
    // after the second burst's acknowledgement. The next process must hold every acknowledged message.
    const env = { SYNC_COMPACT_MIN_BYTES: '1024' };
    const rounds = Math.max(3, Math.ceil(ITERATIONS / 2));
    const expected = new Map<string, string[]>();
    const connect = async (child: Child, name: string) => {
      const client = await connectClient(
        `ws://127.0.0.1:${child.port}/sync`,
        await issuer.sign({ sub: 'alice', doc: name }),
        { name, user: 'alice' },
      );
      const texts = () =>
        client.doc
          .getArray<{ text: string }>('messages')
          .toArray()
          .map((m) => m.text);
      return { client, texts };
    };
    /** Everything acknowledged in the room is there, and nothing but never-acknowledged writes besides. */
    const verify = async (child: Child, name: string) => {
      const { client, texts } = await connect(child, name);
      const acknowledged = expected.get(name) ?? [];
      await waitFor(() => texts().length >= acknowledged.length, { message: `${name} after a restart` });
      const seen = texts();
      for (const text of acknowledged) expect(seen).toContain(text);
      for (const text of seen) if (!acknowledged.includes(text)) expect(text).toMatch(/^unacknowledged /);
      client.destroy();
    };
    const roomOf = (i: number) => `room:compacting${suffix}n${i}`;

    for (let i = 0; i <= rounds; i++) {
      const child = await start(env);
      if (i > 0) await verify(child, roomOf(i - 1));
      if (i === rounds) {
        await kill9(child);
        break;
      }
      const name = roomOf(i);
      const written: string[] = [];
      expected.set(name, written);
      const { client } = await connect(child, name);
      const burst = async (part: string) => {
        for (let m = 0; m < 15; m++) {
          const text = `round ${i} ${part} ${m} ${'x'.repeat(60)}`;
          appendMessage(client.doc, { id: newMessageId(), author: 'alice' as UserId, text, createdAt: Date.now() });
          written.push(text);
          // One update per message, as a user types them, so the log grows row by row.
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        await client.acknowledged();
      };
      const compactions = async () => {
        const metrics = await (await fetch(`http://127.0.0.1:${child.port}/metrics`)).text();
        return Number(/confab_sync_compactions_total\{result="done"\} (\d+)/.exec(metrics)?.[1] ?? 0);
      };
      await burst('first');
      await waitFor(async () => (await compactions()) > 0, { message: `a compaction in round ${i}` });
      await burst('second');
      for (let m = 0; m < 5; m++) {
        const text = `unacknowledged ${i} ${m} ${'y'.repeat(60)}`;
        appendMessage(client.doc, { id: newMessageId(), author: 'alice' as UserId, text, createdAt: Date.now() });
      }
      await kill9(child);
      client.destroy();
    }
    // Every room has its snapshot, written by the merge thread, which also checkpointed (its mark row).
    const file = new SQLite(path.join(dataDir, 'confab.db'), { readonly: true });
    try {
      const snapshots = file.prepare("select count(*) from sync_snapshots where document like 'room:compacting%'");
      expect(snapshots.pluck().get()).toBe(rounds);
      expect(file.prepare('select count(*) from sync_checkpoints').pluck().get()).toBe(1);
    } finally {
      file.close();
    }
  });

  it('stops cleanly on SIGTERM: clients are told 1001 going_away, the process exits 0, nothing is lost', async () => {
    const name = `room:term${suffix}`;
    const child = await start();
    const token = await issuer.sign({ sub: 'alice', doc: name });
    const client = await connectClient(`ws://127.0.0.1:${child.port}/sync`, token, { name, user: 'alice' });
    appendMessage(client.doc, { id: newMessageId(), author: 'alice' as UserId, text: 'before SIGTERM', createdAt: 1 });
    await client.acknowledged();
    const exited = new Promise<number | null>((resolve) => child.process.on('exit', (code) => resolve(code)));
    process.kill(child.process.pid!, 'SIGTERM');
    expect(await exited).toBe(0);
    expect(client.closes[0]).toEqual({ code: 1001, reason: 'going_away' });
    client.destroy();
    const again = await start();
    const reader = await connectClient(
      `ws://127.0.0.1:${again.port}/sync`,
      await issuer.sign({ sub: 'bob', doc: name }),
      {
        name,
        user: 'bob',
      },
    );
    expect(
      reader.doc
        .getArray<{ text: string }>('messages')
        .toArray()
        .map((m) => m.text),
    ).toEqual(['before SIGTERM']);
    reader.destroy();
    await kill9(again);
  });
});
