/**
 * A load-generator process: many clients over raw WebSockets, speaking the
 * sync protocol with pre-encoded frames (see wire.ts). Started by the
 * orchestrator with child_process.fork; talks to it over IPC only.
 *
 * Cost per delivery is a WebSocket frame read plus a byte search. The Yjs
 * work is per message, not per client: each room keeps ONE Y.Doc in this
 * process, fed only by what one listening client receives from the server,
 * so it holds exactly the items the server has confirmed. A sender encodes
 * its append by hand (append.ts) with its own Yjs client id and clock, left
 * origin = the last confirmed item, right origin = none: an append "at the
 * end of the array as the client saw it", which the Confab guard accepts,
 * also when several clients append at once.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { appendMessage, type ChatMessage, messageShapeError, newMessageId, type UserId } from '@confab/protocol';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { LatencyHistogram } from '../histogram';
import { checkAppendEncoding, encodeAppendUpdate, lastElementId, lastMessageItem } from './append';
import type {
  GeneratorChildMessage,
  GeneratorInit,
  GeneratorParentMessage,
  GeneratorPreload,
  GeneratorStep,
  RoomSpec,
} from './messages';
import { importTokenSigner, type TokenClaims } from './tokens';
import { markerText, readPayload, scanMarkers, WireCodec } from './wire';

// Overridable to exercise the keep-alive path in a short run.
const KEEPALIVE_MS = Number(process.env.BENCH_KEEPALIVE_MS ?? 20_000);

interface Room {
  spec: RoomSpec;
  /** What the server has sent back: only confirmed items, so only valid origins. */
  doc: Y.Doc;
  lastItem: Y.Item | null;
  clients: Client[];
}

interface Client {
  index: number;
  userId: UserId;
  sessionId: string;
  yClientId: number;
  /** The next Yjs clock of this client's own items (one per message). */
  clock: number;
  room: Room;
  codec: WireCodec;
  ws: WebSocket;
  listener: boolean;
  lastSentAt: number;
  barrier: (() => void) | null;
}

function reply(message: GeneratorChildMessage): void {
  process.send?.(message);
}

const nowUs = () => performance.now() * 1000;

const state = {
  rooms: [] as Room[],
  clients: [] as Client[],
  textChars: 60,
  nextSeq: 1,
  /** Markers with a lower sequence belong to an earlier step and are not counted. */
  stepFirstSeq: Number.MAX_SAFE_INTEGER,
  received: 0,
  histogram: new LatencyHistogram(),
  closedSockets: 0,
  filler: '',
  /** Signs a renewed token when the server asks for one (Confab); null for servers without tokens. */
  signToken: null as ((claims: TokenClaims) => Promise<string>) | null,
  saidRenewing: false,
};

function randomClientId(): number {
  return Math.floor(Math.random() * 0xffffffff);
}

function onFrame(client: Client, data: Buffer): void {
  const { kind, offset } = client.codec.classify(data);
  if (kind === 'tokenRequest') {
    renewToken(client);
    return;
  }
  if (kind === 'update' || kind === 'step2') {
    if (client.listener) Y.applyUpdate(client.room.doc, readPayload(data, offset));
    if (kind === 'step2' && client.barrier) {
      const done = client.barrier;
      client.barrier = null;
      done();
    }
    if (kind !== 'update') return;
    const receivedUs = nowUs();
    scanMarkers(data, offset, (seq, sender, sentUs) => {
      if (sender === client.index || seq < state.stepFirstSeq) return;
      state.received++;
      state.histogram.record(receivedUs - sentUs);
    });
  }
}

/** Answers the server's token request as the provider does, with a fresh token for the same session. */
function renewToken(client: Client): void {
  const sign = state.signToken;
  if (!sign) return;
  const claims = {
    userId: client.userId,
    sessionId: client.sessionId,
    documentName: client.codec.documentName,
    role: 'member' as const,
  };
  sign(claims).then(
    (token) => {
      if (client.ws.readyState !== WebSocket.OPEN) return;
      client.ws.send(client.codec.tokenFrame(token));
      if (!state.saidRenewing) process.stderr.write('bench generator: the server asked for fresh tokens; renewing\n');
      state.saidRenewing = true;
    },
    (error: unknown) => process.stderr.write(`bench generator: token renewal failed: ${String(error)}\n`),
  );
}

function connect(init: GeneratorInit, room: Room, spec: RoomSpec['clients'][number], listener: boolean) {
  return new Promise<Client>((resolve, reject) => {
    const codec = new WireCodec(init.dialect, room.spec.documentName);
    const ws = new WebSocket(room.spec.url, { perMessageDeflate: false });
    const client: Client = {
      index: spec.index,
      userId: spec.userId as UserId,
      sessionId: spec.sessionId,
      yClientId: randomClientId(),
      clock: 0,
      room,
      codec,
      ws,
      listener,
      lastSentAt: performance.now(),
      barrier: null,
    };
    let settled = false;
    const timer = setTimeout(
      () => fail(new Error(`connect timeout after ${init.connectTimeoutMs} ms`)),
      init.connectTimeoutMs,
    );
    const ok = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(client);
    };
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      reject(error);
    };
    ws.on('open', () => {
      for (const frame of codec.openingFrames(spec.token)) ws.send(frame);
      if (codec.readyOnOpen) ok();
    });
    ws.on('message', (data: Buffer) => {
      if (!settled) {
        const { kind, offset } = codec.classify(data);
        if (kind === 'authenticated') ok();
        if (kind === 'denied') fail(new Error(`permission denied: ${data.subarray(offset).toString('latin1')}`));
      }
      onFrame(client, data);
    });
    ws.on('close', (code, reason) => {
      if (!settled) fail(new Error(`closed while connecting: ${code} ${reason.toString()}`));
      else {
        state.closedSockets++;
        // Say why (a guard refusal is 4422 forbidden_update), but not a thousand times.
        if (state.closedSockets <= 3) {
          process.stderr.write(`bench generator: socket of ${client.userId} closed: ${code} ${reason.toString()}\n`);
        }
      }
    });
    ws.on('error', (error) => fail(error));
  });
}

async function init(message: GeneratorInit): Promise<void> {
  if (message.tokenKey) state.signToken = await importTokenSigner(message.tokenKey);
  state.textChars = message.textChars;
  state.filler = ' lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor'
    .repeat(Math.ceil(message.textChars / 70))
    .slice(0, message.textChars);
  checkAppendEncoding();
  for (const spec of message.rooms) state.rooms.push({ spec, doc: new Y.Doc(), lastItem: null, clients: [] });
  const started = performance.now();
  const jobs: (() => Promise<void>)[] = [];
  for (const room of state.rooms) {
    room.spec.clients.forEach((spec, i) => {
      jobs.push(async () => {
        const client = await connect(message, room, spec, i === 0);
        room.clients[i] = client;
        state.clients.push(client);
      });
    });
  }
  let next = 0;
  const workers = Array.from({ length: Math.min(message.connectConcurrency, jobs.length) }, async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      if (job) await job();
    }
  });
  await Promise.all(workers);
  // Round-robin over rooms first, so consecutive sends come from different rooms.
  state.clients.sort((a, b) => a.room.clients.indexOf(a) - b.room.clients.indexOf(b));
  setInterval(keepAlive, KEEPALIVE_MS).unref();
  reply({ type: 'ready', connectMs: performance.now() - started, connections: state.clients.length });
}

/** Hocuspocus closes a socket silent for 60 s; an idle client in a slow step still counts. */
function keepAlive(): void {
  const now = performance.now();
  for (const client of state.clients) {
    if (now - client.lastSentAt < KEEPALIVE_MS || client.ws.readyState !== WebSocket.OPEN) continue;
    // Hocuspocus: a QueryAwareness (3) frame is read and answered with nothing. y-websocket: ws pings do it.
    if (client.codec.dialect === 'hocuspocus') client.ws.send(client.codec.queryAwarenessFrame());
    client.lastSentAt = now;
  }
}

function sendOne(client: Client): void {
  const room = client.room;
  const seq = state.nextSeq++;
  room.lastItem = lastMessageItem(room.doc, room.lastItem);
  // The client's own view ends with its own messages the server has not echoed
  // yet: its next append goes after the last of them, never before.
  const ownPending = Y.getState(room.doc.store, client.yClientId) < client.clock;
  const origin = ownPending ? { client: client.yClientId, clock: client.clock - 1 } : lastElementId(room.lastItem);
  const message = {
    id: newMessageId(),
    author: client.userId,
    text: `${markerText(seq, client.index, nowUs())}${state.filler}`,
    createdAt: Date.now(),
  } as ChatMessage;
  if (seq === 1) {
    const problem = messageShapeError(message);
    if (problem) throw new Error(`the bench's message breaks room schema v1: ${problem}`);
  }
  const update = encodeAppendUpdate(client.yClientId, client.clock++, origin, message);
  client.ws.send(client.codec.updateFrame(update));
  client.lastSentAt = performance.now();
}

async function step(message: GeneratorStep): Promise<void> {
  const startCpu = process.cpuUsage();
  const startElu = performance.eventLoopUtilization();
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  state.histogram.reset();
  state.received = 0;
  state.stepFirstSeq = state.nextSeq;
  let sent = 0;
  let expected = 0;
  let cursor = 0;
  const senders = state.clients.filter((c) => c.room.clients.length > 1);
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsedMs = performance.now() - started;
      const due = Math.min(message.durationMs, elapsedMs) * (message.messagesPerSecond / 1000);
      let skipped = 0;
      while (sent < due && skipped < senders.length) {
        const client = senders[cursor++ % senders.length];
        if (!client || client.ws.readyState !== WebSocket.OPEN) {
          skipped++;
          continue;
        }
        skipped = 0;
        sendOne(client);
        sent++;
        expected += client.room.clients.length - 1;
      }
      if (elapsedMs >= message.durationMs) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
  const sendDurationMs = performance.now() - started;
  const drainUntil = performance.now() + message.drainMs;
  while (state.received < expected && performance.now() < drainUntil) {
    await new Promise((r) => setTimeout(r, 5));
  }
  delay.disable();
  const cpu = process.cpuUsage(startCpu);
  const elu = performance.eventLoopUtilization(startElu);
  state.stepFirstSeq = Number.MAX_SAFE_INTEGER;
  reply({
    type: 'stepResult',
    id: message.id,
    sent,
    expected,
    received: state.received,
    sendDurationMs,
    totalDurationMs: performance.now() - started,
    histogram: state.histogram.toSparse(),
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    loopDelayP99Ms: delay.percentile(99) / 1e6,
    loopDelayMaxMs: delay.max / 1e6,
    eventLoopUtilization: elu.utilization,
    closedSockets: state.closedSockets,
  });
}

/** Each room's first client appends `messages` messages in one update, then waits until the server has applied it. */
async function preload(message: GeneratorPreload): Promise<void> {
  const started = performance.now();
  let stateBytes = 0;
  await Promise.all(
    state.rooms.map(async (room) => {
      const client = room.clients[0];
      if (!client) return;
      // An offline batch as a provider would send it: one update appending many messages.
      const scratch = new Y.Doc();
      scratch.clientID = client.yClientId;
      Y.applyUpdate(scratch, Y.encodeStateAsUpdate(room.doc));
      const before = Y.encodeStateVector(scratch);
      scratch.transact(() => {
        for (let i = 0; i < message.messages; i++) {
          appendMessage(scratch, {
            id: newMessageId(),
            author: client.userId,
            text: `preloaded message ${i}${state.filler}`,
            createdAt: Date.now(),
          });
        }
      });
      const update = Y.encodeStateAsUpdate(scratch, before);
      client.clock += message.messages;
      stateBytes += update.length;
      // The server handles a connection's frames in order: its answer to this
      // sync step 1 comes after the update has been applied (and, for Confab, stored).
      const synced = new Promise<void>((resolve) => {
        client.barrier = resolve;
      });
      client.ws.send(client.codec.updateFrame(update));
      client.ws.send(client.codec.step1Frame());
      await synced;
    }),
  );
  reply({ type: 'preloaded', ms: performance.now() - started, stateBytes });
}

process.on('message', (message: GeneratorParentMessage) => {
  const run = async () => {
    if (message.type === 'init') await init(message);
    else if (message.type === 'step') await step(message);
    else if (message.type === 'preload') await preload(message);
    else if (message.type === 'stop') {
      for (const client of state.clients) client.ws.terminate();
      process.exit(0);
    }
  };
  run().catch((error: unknown) => {
    reply({ type: 'failed', error: error instanceof Error ? error.message : String(error) });
  });
});
// The orchestrator gone means this run is over: never outlive it.
process.on('disconnect', () => process.exit(0));
