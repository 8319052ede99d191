/**
 * A bounded decoder for Yjs v1 updates (the format Hocuspocus speaks).
 *
 * Why not `Y.decodeUpdate`: Yjs trusts the counts and lengths it reads (see
 * yjs issue 687), so crafted bytes can make it allocate or loop far beyond the
 * size of the input. Here every read is bounds-checked, every count is checked
 * against the bytes that are left before anything is allocated (an element
 * takes at least one byte, so a loop can never run longer than the input), and
 * totals are capped. The result is plain data; nothing touches a Y.Doc.
 *
 * Wire format (yjs src/utils/encoding.js, UpdateDecoderV1, DSDecoderV1):
 *   update  = varUint(#clients) { varUint(#structs) varUint(client) varUint(clock) struct* }* deleteSet
 *   struct  = info:u8 (low 5 bits: 0 GC, 10 Skip, else content ref; bit8 origin, bit7 right origin, bit6 parentSub)
 *   deleteSet = varUint(#clients) { varUint(client) varUint(#ranges) { varUint(clock) varUint(len) }* }*
 */

export interface StructId {
  client: number;
  clock: number;
}

export type DecodedContent =
  | { kind: 'any'; values: unknown[] }
  | { kind: 'deleted' }
  | { kind: 'json'; values: unknown[] }
  | { kind: 'binary' }
  | { kind: 'string'; text: string }
  | { kind: 'embed' }
  | { kind: 'format' }
  | { kind: 'type'; typeRef: number }
  | { kind: 'doc' };

export interface DecodedItem {
  kind: 'item';
  client: number;
  clock: number;
  length: number;
  origin: StructId | null;
  rightOrigin: StructId | null;
  /** Set only when the item has neither origin: a root type name, or the id of a nested type's item. */
  parentRoot: string | null;
  parentItem: StructId | null;
  /** Map key; encoded only when the item has neither origin (else inherited from the origin). */
  parentSub: string | null;
  content: DecodedContent;
}

/** A garbage-collected range or a Skip (a gap the sender did not include). */
export interface DecodedRange {
  kind: 'gc' | 'skip';
  client: number;
  clock: number;
  length: number;
}

export type DecodedStruct = DecodedItem | DecodedRange;

export interface DeleteRange {
  client: number;
  clock: number;
  length: number;
}

export interface DecodedUpdate {
  structs: DecodedStruct[];
  deletes: DeleteRange[];
  /** Where the delete set begins in the update's bytes (after the structs). */
  deleteSetAt: number;
}

export interface DecodeLimits {
  /** Structs in one update. A chat client's update holds a handful; an offline batch a few hundred. */
  maxStructs: number;
  /** Ranges in the delete set. */
  maxDeleteRanges: number;
  /** Clock span of one GC/Skip/deleted struct or delete range: bounds the work Yjs does per range. */
  maxClockSpan: number;
  /** Nesting depth of a JSON-like (Any) value. Messages are two levels deep. */
  maxAnyDepth: number;
  /** Bytes of a root name or map key. */
  maxKeyBytes: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxStructs: 20_000,
  maxDeleteRanges: 20_000,
  maxClockSpan: 1 << 20,
  maxAnyDepth: 8,
  maxKeyBytes: 1024,
};

/** Why decoding stopped: the bytes are not a v1 update, or they are but exceed a limit. */
export type DecodeFailure = { reason: 'malformed' | 'budget'; detail: string };
export type DecodeResult = { ok: true; update: DecodedUpdate } | { ok: false; failure: DecodeFailure };

class DecodeError extends Error {
  constructor(
    readonly reason: 'malformed' | 'budget',
    message: string,
  ) {
    super(message);
  }
}

const malformed = (detail: string) => new DecodeError('malformed', detail);
const budget = (detail: string) => new DecodeError('budget', detail);

/**
 * `ignoreBOM`: a leading U+FEFF is part of the string, as it is to lib0, which
 * Yjs reads with. Without it the decoder drops the mark, and a key written
 * `'\uFEFFauthor'` read as `author` here while Yjs stored a key of its own:
 * a message that said `author: 'bob'` to everyone passed as Alice's.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Cursor over the bytes; every read checks the bounds first. */
class Reader {
  pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  u8(): number {
    if (this.pos >= this.bytes.length) throw malformed('unexpected end of update');
    return this.bytes[this.pos++]!;
  }

  /** LEB128 unsigned, at most 53 bits (lib0's writeVarUint). */
  varUint(): number {
    let num = 0;
    let mult = 1;
    for (let i = 0; i < 8; i++) {
      const r = this.u8();
      num += (r & 0x7f) * mult;
      mult *= 128;
      if (r < 0x80) {
        if (!Number.isSafeInteger(num)) throw malformed('integer out of range');
        return num;
      }
    }
    throw malformed('integer out of range');
  }

  /** lib0's writeVarInt: first byte has a sign bit and 6 value bits. */
  varInt(): number {
    let r = this.u8();
    let num = r & 0x3f;
    let mult = 64;
    const sign = (r & 0x40) > 0 ? -1 : 1;
    let bytes = 1;
    while (r & 0x80) {
      if (++bytes > 8) throw malformed('integer out of range');
      r = this.u8();
      num += (r & 0x7f) * mult;
      mult *= 128;
    }
    if (!Number.isSafeInteger(num)) throw malformed('integer out of range');
    return sign * num;
  }

  /** A count of elements that each take at least `minBytes`: refuse before allocating. */
  count(what: string, minBytes = 1): number {
    const n = this.varUint();
    if (n * minBytes > this.remaining) throw malformed(`${what} count ${n} exceeds the bytes left`);
    return n;
  }

  bytesOf(length: number): Uint8Array {
    if (length > this.remaining) throw malformed('length exceeds the bytes left');
    const view = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }

  string(maxBytes = Number.POSITIVE_INFINITY): string {
    const length = this.varUint();
    if (length > maxBytes) throw budget(`string of ${length} bytes exceeds ${maxBytes}`);
    try {
      return utf8.decode(this.bytesOf(length));
    } catch (error) {
      if (error instanceof DecodeError) throw error;
      throw malformed('string is not valid UTF-8');
    }
  }

  float(bytes: 4 | 8): number {
    const view = this.bytesOf(bytes);
    const dv = new DataView(view.buffer, view.byteOffset, bytes);
    return bytes === 4 ? dv.getFloat32(0, false) : dv.getFloat64(0, false);
  }

  bigint(): bigint {
    const view = this.bytesOf(8);
    return new DataView(view.buffer, view.byteOffset, 8).getBigInt64(0, false);
  }
}

/**
 * lib0's `readAny`, bounded in depth. A `__proto__` key stays an ordinary own
 * key, so the shape checks see every key and refuse it.
 */
function readAny(r: Reader, depth: number, limits: DecodeLimits): unknown {
  if (depth > limits.maxAnyDepth) throw budget(`value nested deeper than ${limits.maxAnyDepth}`);
  const tag = r.u8();
  switch (tag) {
    case 127:
      return undefined;
    case 126:
      return null;
    case 125:
      return r.varInt();
    case 124:
      return r.float(4);
    case 123:
      return r.float(8);
    case 122:
      return r.bigint();
    case 121:
      return false;
    case 120:
      return true;
    case 119:
      return r.string();
    case 118: {
      const n = r.count('object key', 2);
      const obj: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const key = r.string();
        // lib0 keeps the last of repeated keys, as this does; no encoder writes one twice, so none is taken.
        if (Object.hasOwn(obj, key)) throw malformed(`object key ${JSON.stringify(key.slice(0, 40))} repeated`);
        const value = readAny(r, depth + 1, limits);
        // `obj.__proto__ = v` would set the prototype instead of a key the shape checks can see.
        if (key === '__proto__') {
          Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
        } else obj[key] = value;
      }
      return obj;
    }
    case 117: {
      const n = r.count('array element');
      const arr: unknown[] = [];
      for (let i = 0; i < n; i++) arr.push(readAny(r, depth + 1, limits));
      return arr;
    }
    case 116:
      return r.bytesOf(r.varUint());
    default:
      throw malformed(`unknown value tag ${tag}`);
  }
}

/** Yjs parses these with JSON.parse while applying; a string that does not parse would throw inside Yjs. */
function readJson(r: Reader): unknown {
  return parseJson(r.string());
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw malformed('JSON content does not parse');
  }
}

function readId(r: Reader): StructId {
  return { client: r.varUint(), clock: r.varUint() };
}

function clockSpan(r: Reader, limits: DecodeLimits, what: string): number {
  const length = r.varUint();
  if (length === 0) throw malformed(`${what} of length 0`);
  if (length > limits.maxClockSpan) throw budget(`${what} spans ${length} clocks (limit ${limits.maxClockSpan})`);
  return length;
}

function readContent(r: Reader, ref: number, limits: DecodeLimits): { content: DecodedContent; length: number } {
  switch (ref) {
    case 1:
      return { content: { kind: 'deleted' }, length: clockSpan(r, limits, 'deleted content') };
    case 2: {
      const n = r.count('JSON element');
      const values: unknown[] = [];
      for (let i = 0; i < n; i++) {
        // Yjs writes `undefined` as the bare word, which JSON.parse would refuse.
        const text = r.string();
        values.push(text === 'undefined' ? undefined : parseJson(text));
      }
      if (n === 0) throw malformed('empty JSON content');
      return { content: { kind: 'json', values }, length: n };
    }
    case 3:
      r.bytesOf(r.varUint());
      return { content: { kind: 'binary' }, length: 1 };
    case 4: {
      const text = r.string();
      // Yjs counts a string's length in UTF-16 code units.
      if (text.length === 0) throw malformed('empty string content');
      return { content: { kind: 'string', text }, length: text.length };
    }
    case 5:
      readJson(r);
      return { content: { kind: 'embed' }, length: 1 };
    case 6:
      r.string(limits.maxKeyBytes);
      readJson(r);
      return { content: { kind: 'format' }, length: 1 };
    case 7: {
      const typeRef = r.varUint();
      if (typeRef > 6) throw malformed(`unknown type ref ${typeRef}`);
      // XmlElement (3) and XmlHook (5) carry a name.
      if (typeRef === 3 || typeRef === 5) r.string(limits.maxKeyBytes);
      return { content: { kind: 'type', typeRef }, length: 1 };
    }
    case 8: {
      const n = r.count('Any element');
      if (n === 0) throw malformed('empty Any content');
      const values: unknown[] = [];
      for (let i = 0; i < n; i++) values.push(readAny(r, 0, limits));
      return { content: { kind: 'any', values }, length: n };
    }
    case 9:
      r.string(limits.maxKeyBytes);
      readAny(r, 0, limits);
      return { content: { kind: 'doc' }, length: 1 };
    default:
      throw malformed(`unknown content ref ${ref}`);
  }
}

const BIT6 = 0x20;
const BIT7 = 0x40;
const BIT8 = 0x80;

function readStructs(r: Reader, limits: DecodeLimits): DecodedStruct[] {
  const structs: DecodedStruct[] = [];
  // A client section is at least three bytes (#structs, client, clock).
  const clients = r.count('client section', 3);
  const seenClients = new Set<number>();
  for (let c = 0; c < clients; c++) {
    const n = r.count('struct');
    const client = r.varUint();
    if (seenClients.has(client)) throw malformed(`client ${client} appears twice`);
    seenClients.add(client);
    let clock = r.varUint();
    if (structs.length + n > limits.maxStructs) throw budget(`more than ${limits.maxStructs} structs`);
    for (let i = 0; i < n; i++) {
      const info = r.u8();
      const ref = info & 0x1f;
      let struct: DecodedStruct;
      if (ref === 0 || ref === 10) {
        const length = ref === 0 ? clockSpan(r, limits, 'GC range') : clockSpan(r, limits, 'skip');
        struct = { kind: ref === 0 ? 'gc' : 'skip', client, clock, length };
      } else {
        const origin = info & BIT8 ? readId(r) : null;
        const rightOrigin = info & BIT7 ? readId(r) : null;
        const canCopyParent = (info & (BIT7 | BIT8)) !== 0;
        let parentRoot: string | null = null;
        let parentItem: StructId | null = null;
        let parentSub: string | null = null;
        if (!canCopyParent) {
          const parentInfo = r.varUint();
          if (parentInfo === 1) parentRoot = r.string(limits.maxKeyBytes);
          else parentItem = readId(r);
          if (info & BIT6) parentSub = r.string(limits.maxKeyBytes);
        }
        const { content, length } = readContent(r, ref, limits);
        struct = {
          kind: 'item',
          client,
          clock,
          length,
          origin,
          rightOrigin,
          parentRoot,
          parentItem,
          parentSub,
          content,
        };
      }
      if (clock + struct.length > Number.MAX_SAFE_INTEGER) throw malformed('clock out of range');
      clock += struct.length;
      structs.push(struct);
    }
  }
  return structs;
}

function readDeleteSet(r: Reader, limits: DecodeLimits): DeleteRange[] {
  const deletes: DeleteRange[] = [];
  const clients = r.count('delete-set client', 2);
  for (let c = 0; c < clients; c++) {
    const client = r.varUint();
    const n = r.count('delete range', 2);
    if (deletes.length + n > limits.maxDeleteRanges) throw budget(`more than ${limits.maxDeleteRanges} delete ranges`);
    for (let i = 0; i < n; i++) {
      const clock = r.varUint();
      const length = clockSpan(r, limits, 'delete range');
      if (clock + length > Number.MAX_SAFE_INTEGER) throw malformed('clock out of range');
      deletes.push({ client, clock, length });
    }
  }
  return deletes;
}

/**
 * Decodes a v1 update into plain structs and delete ranges. Never throws:
 * bad bytes are `malformed`, bytes that exceed a limit are `budget`. Runs in
 * time linear in `update.length`.
 */
export function decodeUpdateBounded(update: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodeResult {
  const r = new Reader(update);
  try {
    const structs = readStructs(r, limits);
    const deleteSetAt = r.pos;
    const deletes = readDeleteSet(r, limits);
    if (r.remaining !== 0) throw malformed(`${r.remaining} bytes after the delete set`);
    return { ok: true, update: { structs, deletes, deleteSetAt } };
  } catch (error) {
    if (error instanceof DecodeError) return { ok: false, failure: { reason: error.reason, detail: error.message } };
    // A RangeError from a runaway recursion or similar: still the sender's fault, never ours.
    return {
      ok: false,
      failure: { reason: 'malformed', detail: error instanceof Error ? error.message : 'undecodable' },
    };
  }
}
