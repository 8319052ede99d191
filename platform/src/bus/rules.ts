import { createHash } from 'node:crypto';
import {
  type BusEvent,
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_MAX_DELIVER,
  DEFAULT_RETRY_BACKOFF_MS,
  type DeadLetter,
  deadLetterSubject,
  type SubscribeOptions,
  subjectMatches,
} from './port';

/**
 * Pure rules both adapters share: what a valid subject and durable look like,
 * how long to wait before a retry, what a dead letter is, and how subjects
 * map onto a test prefix on the wire.
 */

const SUBJECT_ROOT = 'confab';
const TOKEN_CHARACTER = '[A-Za-z0-9_:-]';
const TOKEN = new RegExp(`^${TOKEN_CHARACTER}+$`);
/** `confab` and one or more tokens, in one pass: it is checked for every event. */
const PUBLISH_SUBJECT = new RegExp(`^${SUBJECT_ROOT}(?:\\.${TOKEN_CHARACTER}+)+$`);
// Long enough for `sync-<64-char instance id>`; NATS consumer names allow these characters.
const DURABLE = /^[A-Za-z0-9_-]{1,128}$/;

/** Throws (a bug in the caller) unless `subject` is a concrete subject under `confab.`. */
export function assertPublishSubject(subject: string): void {
  if (!PUBLISH_SUBJECT.test(subject)) {
    throw new TypeError(`bus subject must be confab.<token>[.<token>...] without wildcards, got ${subject}`);
  }
}

/** Throws unless `filter` is a subject filter under `confab.` (`*` and a trailing `>` allowed). */
export function assertFilter(filter: string): void {
  const tokens = filter.split('.');
  const ok =
    tokens[0] === SUBJECT_ROOT &&
    tokens.length >= 2 &&
    tokens.every((t, i) => TOKEN.test(t) || t === '*' || (t === '>' && i === tokens.length - 1));
  if (!ok) throw new TypeError(`bus subject filter must be under confab. (e.g. confab.room.>), got ${filter}`);
}

/** Durable names become NATS consumer names: no dots, wildcards or spaces. */
export function assertDurable(durable: string): void {
  if (!DURABLE.test(durable)) throw new TypeError(`bus durable must match ${DURABLE}, got ${durable}`);
}

export interface ResolvedSubscribeOptions {
  readonly durable: string;
  readonly subjects: readonly string[];
  readonly maxDeliver: number;
  readonly concurrency: number;
  readonly backoffMs: readonly number[];
  readonly ackWaitMs: number;
  readonly forgetAfterIdleMs: number | undefined;
}

/** Validates and fills in defaults; throws on a bad option (a bug in the caller). */
export function resolveSubscribeOptions(options: SubscribeOptions): ResolvedSubscribeOptions {
  assertDurable(options.durable);
  if (options.subjects.length === 0) throw new TypeError('bus subscription needs at least one subject filter');
  for (const filter of options.subjects) assertFilter(filter);
  const maxDeliver = options.maxDeliver ?? DEFAULT_MAX_DELIVER;
  const concurrency = options.concurrency ?? 1;
  const backoffMs = options.backoffMs ?? DEFAULT_RETRY_BACKOFF_MS;
  const ackWaitMs = options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  if (!Number.isInteger(maxDeliver) || maxDeliver < 1)
    throw new TypeError(`maxDeliver must be >= 1, got ${maxDeliver}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new TypeError(`concurrency must be >= 1, got ${concurrency}`);
  }
  if (backoffMs.length === 0 || backoffMs.some((ms) => !Number.isFinite(ms) || ms < 0)) {
    throw new TypeError('backoffMs must be a non-empty list of non-negative delays');
  }
  if (!Number.isFinite(ackWaitMs) || ackWaitMs < 100) throw new TypeError(`ackWaitMs must be >= 100, got ${ackWaitMs}`);
  const forgetAfterIdleMs = options.forgetAfterIdleMs;
  if (forgetAfterIdleMs !== undefined && !(Number.isFinite(forgetAfterIdleMs) && forgetAfterIdleMs >= 1000)) {
    throw new TypeError(`forgetAfterIdleMs must be >= 1000, got ${forgetAfterIdleMs}`);
  }
  return {
    durable: options.durable,
    subjects: [...options.subjects],
    maxDeliver,
    concurrency,
    backoffMs,
    ackWaitMs,
    forgetAfterIdleMs,
  };
}

/** Delay before the redelivery that follows failed attempt `attempt` (1-based). */
export function retryDelayMs(backoffMs: readonly number[], attempt: number): number {
  const index = Math.min(Math.max(attempt, 1), backoffMs.length) - 1;
  return backoffMs[index] ?? 0;
}

export function matchesAny(filters: readonly string[], subject: string): boolean {
  return filters.some((filter) => subjectMatches(filter, subject));
}

/** Stable id for the dead letter of `eventId` under `durable`: dead-lettering twice dedupes. */
export function deadLetterId(durable: string, eventId: string): string {
  return `dl-${createHash('sha256').update(`${durable}\u0000${eventId}`).digest('hex').slice(0, 40)}`;
}

export function deadLetterFor(input: {
  durable: string;
  subject: string;
  event: BusEvent;
  attempts: number;
  error: unknown;
  nowMs: number;
}): { subject: string; event: DeadLetter } {
  return {
    subject: deadLetterSubject(input.durable),
    event: {
      id: deadLetterId(input.durable, input.event.id),
      durable: input.durable,
      subject: input.subject,
      event: input.event,
      attempts: input.attempts,
      error: describeError(input.error),
      deadLetteredAt: input.nowMs,
    },
  };
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 1000);
  return String(error).slice(0, 1000);
}

/**
 * Maps `confab.…` subjects onto another first token on the wire, so test runs
 * get their own stream and subjects (`t123.room.…`) while callers keep seeing
 * `confab.…`. With the default prefix both directions are the identity.
 */
export function subjectMapper(prefix: string) {
  if (!/^[A-Za-z0-9_-]+$/.test(prefix)) throw new TypeError(`subjectPrefix must be one subject token, got ${prefix}`);
  const root = `${SUBJECT_ROOT}.`;
  const wireRoot = `${prefix}.`;
  return {
    toWire: (subject: string) => (subject.startsWith(root) ? wireRoot + subject.slice(root.length) : subject),
    fromWire: (subject: string) => (subject.startsWith(wireRoot) ? root + subject.slice(wireRoot.length) : subject),
    /** The stream's subject filter: `<prefix>.>`. */
    all: `${prefix}.>`,
  };
}

export function parseEventPayload(text: string): BusEvent | null {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string') {
      return value as BusEvent;
    }
    return null;
  } catch {
    return null;
  }
}

/**
 * Events are notices, not documents: far below NATS's 1 MiB message limit, so
 * an oversized one fails at publish instead of sticking in the outbox.
 */
export const MAX_EVENT_BYTES = 64 * 1024;

export function assertEvent(event: BusEvent): void {
  if (typeof event?.id !== 'string' || event.id.length === 0 || event.id.length > 200) {
    throw new TypeError('bus event needs a string id of 1 to 200 characters');
  }
}

/** The stored and wire form of an event; throws (a bug in the caller) when it is not JSON or too large. */
export function serializeEvent(event: BusEvent, maxBytes = MAX_EVENT_BYTES): string {
  assertEvent(event);
  const payload = JSON.stringify(event);
  const bytes = Buffer.byteLength(payload);
  if (bytes > maxBytes) throw new TypeError(`bus event ${event.id} is ${bytes} bytes, over ${maxBytes}`);
  return payload;
}

/** A dead letter wraps an event of up to MAX_EVENT_BYTES plus a little; it must never be refused. */
export const MAX_DEAD_LETTER_BYTES = 2 * MAX_EVENT_BYTES;

/** `filter_subjects` (several filters on one consumer) needs nats-server 2.10 or later. */
export function supportsMultipleFilters(serverVersion: string | undefined): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(serverVersion ?? '');
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 2 || (major === 2 && minor >= 10);
}

/** Exponential reconnect delay: `baseMs` doubling per failed attempt up to `maxMs`, plus up to 10% jitter. */
export function reconnectDelayMs(baseMs: number, maxMs: number, failedAttempts: number, random = Math.random): number {
  const delay = Math.min(maxMs, baseMs * 2 ** Math.max(0, failedAttempts));
  return Math.round(delay + delay * 0.1 * random());
}
