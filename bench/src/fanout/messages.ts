import type { SparseHistogram } from '../histogram';
import type { Dialect } from './wire';

/** IPC between the orchestrator and its child processes (server and load generators). */

export type ServerKind =
  | 'confab'
  | 'confab-pg'
  | 'confab-mem'
  | 'confab-noguard'
  | 'confab-nobus'
  | 'hocuspocus'
  | 'y-websocket';

/** Confab and its feature-ladder variants: they take signed tokens and a scratch directory. */
export function isConfab(kind: ServerKind): boolean {
  return kind.startsWith('confab');
}

export const SERVER_DIALECT: Record<ServerKind, Dialect> = {
  confab: 'hocuspocus',
  'confab-pg': 'hocuspocus',
  'confab-mem': 'hocuspocus',
  'confab-noguard': 'hocuspocus',
  'confab-nobus': 'hocuspocus',
  hocuspocus: 'hocuspocus',
  'y-websocket': 'y-websocket',
};

export interface ServerChildOptions {
  kind: ServerKind;
  /** Confab only: the public JWK that verifies the tokens the orchestrator signs. */
  publicJwk?: Record<string, unknown>;
  /** Confab only: a scratch directory (its SQLite database unless databaseUrl is set). */
  dataDir?: string;
  /** Confab only: PostgreSQL instead of SQLite. */
  databaseUrl?: string;
}

export type ServerChildMessage =
  | { type: 'listening'; port: number; path: string }
  | {
      type: 'stats';
      id: number;
      cpuUserUs: number;
      cpuSystemUs: number;
      rssBytes: number;
      heapUsedBytes: number;
      /** V8's heap as committed (used or not), and memory outside it that JS objects hold (Buffers, ArrayBuffers). */
      heapTotalBytes: number;
      externalBytes: number;
      /** With a GC first (`gc`), on Linux: resident bytes of malloc's main arena (native allocations)… */
      mallocArenaBytes?: number;
      /** …and of the arenas glibc gives other threads (V8's compiler and collector threads, libuv's pool). */
      threadArenasBytes?: number;
      /** With a GC first: V8's young generation as resident (it keeps its high-water mark, even when empty). */
      newSpacePhysicalBytes?: number;
      /** The main thread's event-loop time so far, busy and idle (`performance.eventLoopUtilization()`). */
      loopActiveMs: number;
      loopIdleMs: number;
      /** Event-loop delay p99 since the previous stats request (the histogram is reset by each). */
      loopDelayP99Ms: number;
      /** Documents the server holds in memory. */
      loadedDocuments: number;
    }
  | { type: 'failed'; error: string };

export type ServerParentMessage = { type: 'stats'; id: number; gc: boolean } | { type: 'stop' };

export interface ClientSpec {
  /** Unique within the generator process; the sender field of the latency marker. */
  index: number;
  userId: string;
  /** The session the token names: a renewed token must name the same one. */
  sessionId: string;
  token: string;
}

export interface RoomSpec {
  documentName: string;
  url: string;
  clients: ClientSpec[];
}

export interface GeneratorInit {
  type: 'init';
  dialect: Dialect;
  rooms: RoomSpec[];
  /** Characters of filler after the marker: a chat line's typical length. */
  textChars: number;
  /** Sockets opened at once while connecting. */
  connectConcurrency: number;
  connectTimeoutMs: number;
  /** Confab: the private JWK to sign renewed tokens with when the server asks for one (see tokens.ts). */
  tokenKey?: Record<string, unknown>;
}

export interface GeneratorStep {
  type: 'step';
  id: number;
  /** Messages per second this process sends (each reaches roomSize - 1 other clients). */
  messagesPerSecond: number;
  durationMs: number;
  /** How long to wait after the last send for deliveries still in flight. */
  drainMs: number;
}

export interface GeneratorPreload {
  type: 'preload';
  /** Messages each room's first client sends as one update, then waits until the server has it. */
  messages: number;
}

export type GeneratorParentMessage = GeneratorInit | GeneratorStep | GeneratorPreload | { type: 'stop' };

export interface StepResult {
  type: 'stepResult';
  id: number;
  sent: number;
  expected: number;
  received: number;
  sendDurationMs: number;
  totalDurationMs: number;
  histogram: SparseHistogram;
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Event-loop delay while the step ran: when it is high, the generator's own lag is in the latency. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** Event-loop utilisation (0..1) while the step ran. */
  eventLoopUtilization: number;
  closedSockets: number;
}

export type GeneratorChildMessage =
  | { type: 'ready'; connectMs: number; connections: number }
  | { type: 'preloaded'; ms: number; stateBytes: number }
  | StepResult
  | { type: 'failed'; error: string };
