/**
 * Test helpers for the guard: a server room document with its guard, client
 * documents that sync with it the way a provider does (state vector → diff),
 * and a tiny v1 encoder to craft updates no honest client would send.
 * Not exported from index.ts.
 */
import { appendMessage, type ChatMessage, type MessageId, type UserId } from '@confab/protocol';
import * as Y from 'yjs';
import type { GuardVerdict } from './room-guard';
import { RoomGuard } from './room-guard';
import type { GuardContext } from './rules';

export const alice: GuardContext = { userId: 'alice', role: 'member' };
export const bob: GuardContext = { userId: 'bob', role: 'member' };
export const olivia: GuardContext = { userId: 'olivia', role: 'owner' };
export const rita: GuardContext = { userId: 'rita', role: 'reader' };

export interface Room {
  server: Y.Doc;
  guard: RoomGuard;
  /** A new client document with the room's current state. */
  join(clientID?: number): Y.Doc;
  /** The client's changes the server lacks, as a provider sends them after sync step 1. */
  diff(client: Y.Doc): Uint8Array;
  /** Checks the client's pending changes and applies them when accepted. */
  send(client: Y.Doc, ctx: GuardContext): GuardVerdict;
  /** Brings the client up to date with the server. */
  pull(client: Y.Doc): void;
}

export function createRoom(): Room {
  const server = new Y.Doc();
  const guard = new RoomGuard(server);
  const room: Room = {
    server,
    guard,
    join(clientID) {
      const doc = new Y.Doc();
      if (clientID !== undefined) doc.clientID = clientID;
      Y.applyUpdate(doc, Y.encodeStateAsUpdate(server));
      return doc;
    },
    diff: (client) => Y.encodeStateAsUpdate(client, Y.encodeStateVector(server)),
    send(client, ctx) {
      const update = room.diff(client);
      const verdict = guard.check(update, ctx);
      if (verdict.ok) Y.applyUpdate(server, update);
      return verdict;
    },
    pull(client) {
      Y.applyUpdate(client, Y.encodeStateAsUpdate(server, Y.encodeStateVector(client)));
    },
  };
  return room;
}

let counter = 0;
export function message(author: GuardContext | string, text = 'hello', extra: Partial<ChatMessage> = {}) {
  counter++;
  return {
    id: `m${counter.toString().padStart(6, '0')}` as MessageId,
    author: (typeof author === 'string' ? author : author.userId) as UserId,
    text,
    createdAt: 1_790_000_000_000 + counter,
    ...extra,
  };
}

/** Appends through the protocol accessor, as the app does. */
export function post(doc: Y.Doc, author: GuardContext, text = 'hello'): ChatMessage {
  return appendMessage(doc, message(author, text));
}

/** Records the updates a document emits (what a provider would send, one per transaction). */
export function captureUpdates(doc: Y.Doc): Uint8Array[] {
  const updates: Uint8Array[] = [];
  doc.on('update', (update: Uint8Array) => updates.push(update));
  return updates;
}

/** Minimal v1 writer (lib0 encoding) for hand-made updates. */
export class Bytes {
  private readonly out: number[] = [];

  u8(n: number): this {
    this.out.push(n & 0xff);
    return this;
  }

  varUint(n: number): this {
    let v = n;
    while (v > 0x7f) {
      this.out.push(0x80 | (v % 128));
      v = Math.floor(v / 128);
    }
    this.out.push(v);
    return this;
  }

  string(s: string): this {
    const bytes = new TextEncoder().encode(s);
    this.varUint(bytes.length);
    for (const b of bytes) this.out.push(b);
    return this;
  }

  /** lib0 writeAny for the values messages use. */
  any(value: unknown): this {
    if (value === null) return this.u8(126);
    if (typeof value === 'string') return this.u8(119).string(value);
    if (typeof value === 'boolean') return this.u8(value ? 120 : 121);
    if (typeof value === 'number') {
      const buf = new DataView(new ArrayBuffer(8));
      buf.setFloat64(0, value, false);
      this.u8(123);
      for (let i = 0; i < 8; i++) this.out.push(buf.getUint8(i));
      return this;
    }
    if (Array.isArray(value)) {
      this.u8(117).varUint(value.length);
      for (const v of value) this.any(v);
      return this;
    }
    const entries = Object.entries(value as Record<string, unknown>);
    this.u8(118).varUint(entries.length);
    for (const [k, v] of entries) this.string(k).any(v);
    return this;
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

/**
 * Client 9's first struct in `messages`: one object written key by key as given, so a key may repeat or
 * be `__proto__` (what an encoder of plain objects cannot write).
 */
export function objectWithKeys(entries: readonly (readonly [string, unknown])[]): Uint8Array {
  const w = new Bytes().varUint(1).varUint(1).varUint(9).varUint(0).u8(8).varUint(1).string('messages');
  w.varUint(1).u8(118).varUint(entries.length);
  for (const [key, value] of entries) w.string(key).any(value);
  return w.varUint(0).bytes();
}

/**
 * An update Yjs throws on halfway through: client 5000 appends `values[0]` after `anchor` (Yjs integrates
 * higher client ids first), then client 3000's first struct names 3000:1, a later clock of its own
 * client, as its origin; Yjs resolves that without waiting for it and fails. `values[2]` is 3000:1.
 */
export function halfApplicableUpdate(
  anchor: { client: number; clock: number },
  values: readonly [unknown, unknown, unknown],
): Uint8Array {
  const w = new Bytes().varUint(2);
  const after = (origin: { client: number; clock: number }, value: unknown) =>
    w
      .u8(8 | 0x80)
      .varUint(origin.client)
      .varUint(origin.clock)
      .varUint(1)
      .any(value);
  w.varUint(1).varUint(5000).varUint(0);
  after(anchor, values[0]);
  w.varUint(2).varUint(3000).varUint(0);
  after({ client: 3000, clock: 1 }, values[1]);
  after(anchor, values[2]);
  return w.varUint(0).bytes();
}

export interface CraftedItem {
  origin?: { client: number; clock: number } | null;
  rightOrigin?: { client: number; clock: number } | null;
  parent?: string;
  key?: string;
  values: unknown[];
  /** Writes deleted content spanning this many clocks instead of `values`. */
  deleted?: number;
}

/** One client's items as an update (ContentAny), with an optional delete set. */
export function craftUpdate(
  client: number,
  clock: number,
  items: CraftedItem[],
  deletes: { client: number; clock: number; length: number }[] = [],
): Uint8Array {
  const w = new Bytes();
  w.varUint(items.length > 0 ? 1 : 0);
  if (items.length > 0) {
    w.varUint(items.length).varUint(client).varUint(clock);
    for (const item of items) {
      const origin = item.origin ?? null;
      const right = item.rightOrigin ?? null;
      const info =
        (item.deleted ? 1 : 8) | (origin ? 0x80 : 0) | (right ? 0x40 : 0) | (!origin && !right && item.key ? 0x20 : 0);
      w.u8(info);
      if (origin) w.varUint(origin.client).varUint(origin.clock);
      if (right) w.varUint(right.client).varUint(right.clock);
      if (!origin && !right) {
        w.varUint(1).string(item.parent ?? 'messages');
        if (item.key) w.string(item.key);
      }
      if (item.deleted) {
        w.varUint(item.deleted);
        continue;
      }
      w.varUint(item.values.length);
      for (const v of item.values) w.any(v);
    }
  }
  const byClient = new Map<number, { clock: number; length: number }[]>();
  for (const d of deletes) byClient.set(d.client, [...(byClient.get(d.client) ?? []), d]);
  w.varUint(byClient.size);
  for (const [c, ranges] of byClient) {
    w.varUint(c).varUint(ranges.length);
    for (const r of ranges) w.varUint(r.clock).varUint(r.length);
  }
  return w.bytes();
}

/** The Yjs id of the item holding a message of the server document. */
export function itemIdOf(doc: Y.Doc, messageId: string): { client: number; clock: number } {
  let n = doc.getArray<ChatMessage>('messages')._start;
  for (; n !== null; n = n.right) {
    if (n.deleted || !(n.content instanceof Y.ContentAny)) continue;
    const values = n.content.getContent() as ChatMessage[];
    const k = values.findIndex((m) => m.id === messageId);
    if (k >= 0) return { client: n.id.client, clock: n.id.clock + k };
  }
  throw new Error(`no message ${messageId}`);
}

/** A small deterministic PRNG (mulberry32) for property tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
