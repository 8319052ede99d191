import * as encoding from 'lib0/encoding';

/**
 * The two wire dialects the load generator speaks, with pre-encoded frames so
 * a client costs a Buffer concat to send and a byte search to receive: no
 * provider, no per-client Y.Doc.
 *
 * Hocuspocus 4 (and so Confab): every frame starts with the document name
 * (lib0 varString), then the message type (varUint): 0 Sync, 1 Awareness,
 * 2 Auth, 8 SyncStatus. Sync frames carry the y-protocols sync message:
 * 0 step 1 (state vector), 1 step 2 (missing updates), 2 update. The client
 * opens with Auth (2, 0 = Token, token, provider version) then Sync step 1;
 * the server answers Auth (2, 2 = Authenticated, scope) or (2, 1 = PermissionDenied).
 * See @hocuspocus/provider OutgoingMessages/* and @hocuspocus/server MessageReceiver.
 *
 * y-websocket: the same y-protocols messages without the document name (the
 * document is the URL path) and without an auth step.
 */
export type Dialect = 'hocuspocus' | 'y-websocket';

const MESSAGE_SYNC = 0;
const MESSAGE_AUTH = 2;
const MESSAGE_QUERY_AWARENESS = 3;
const AUTH_TOKEN = 0;
const AUTH_PERMISSION_DENIED = 1;
const AUTH_AUTHENTICATED = 2;
const SYNC_STEP1 = 0;
const SYNC_STEP2 = 1;
const SYNC_UPDATE = 2;
/** Sent as the provider version in the auth message; servers only log it. */
const PROVIDER_VERSION = 'confab-bench';

export type FrameKind = 'update' | 'step2' | 'authenticated' | 'denied' | 'tokenRequest' | 'other';

export interface Classified {
  kind: FrameKind;
  /** Where the y-protocols payload (varUint8Array) starts, for update/step2; the reason for denied. */
  offset: number;
}

function encode(write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  write(e);
  return encoding.toUint8Array(e);
}

/** The per-connection codec: prefixes are encoded once when the client is created. */
export class WireCodec {
  readonly dialect: Dialect;
  readonly documentName: string;
  private readonly prefix: Uint8Array;
  private readonly updatePrefix: Uint8Array;

  constructor(dialect: Dialect, documentName: string) {
    this.dialect = dialect;
    this.documentName = documentName;
    this.prefix = dialect === 'hocuspocus' ? encode((e) => encoding.writeVarString(e, documentName)) : new Uint8Array();
    this.updatePrefix = encode((e) => {
      encoding.writeUint8Array(e, this.prefix);
      encoding.writeVarUint(e, MESSAGE_SYNC);
      encoding.writeVarUint(e, SYNC_UPDATE);
    });
  }

  /** Sync step 1 with an empty state vector (zero clients): "send me everything". */
  step1Frame(): Uint8Array {
    return encode((e) => {
      encoding.writeUint8Array(e, this.prefix);
      encoding.writeVarUint(e, MESSAGE_SYNC);
      encoding.writeVarUint(e, SYNC_STEP1);
      encoding.writeVarUint8Array(e, new Uint8Array([0]));
    });
  }

  /** Hocuspocus reads a QueryAwareness frame and, on a client connection, answers nothing: a cheap keep-alive. */
  queryAwarenessFrame(): Uint8Array {
    return encode((e) => {
      encoding.writeUint8Array(e, this.prefix);
      encoding.writeVarUint(e, MESSAGE_QUERY_AWARENESS);
    });
  }

  /** Frames a client sends right after the socket opens. */
  openingFrames(token: string): Uint8Array[] {
    const step1 = this.step1Frame();
    if (this.dialect === 'y-websocket') return [step1];
    const auth = encode((e) => {
      encoding.writeUint8Array(e, this.prefix);
      encoding.writeVarUint(e, MESSAGE_AUTH);
      encoding.writeVarUint(e, AUTH_TOKEN);
      encoding.writeVarString(e, token);
      encoding.writeVarString(e, PROVIDER_VERSION);
    });
    return [auth, step1];
  }

  /** The answer to a token request: Auth, Token, the token (what the provider's `sendToken` sends). */
  tokenFrame(token: string): Uint8Array {
    return encode((e) => {
      encoding.writeUint8Array(e, this.prefix);
      encoding.writeVarUint(e, MESSAGE_AUTH);
      encoding.writeVarUint(e, AUTH_TOKEN);
      encoding.writeVarString(e, token);
    });
  }

  /** y-websocket has no auth step: a socket is ready when it opens. */
  get readyOnOpen(): boolean {
    return this.dialect === 'y-websocket';
  }

  updateFrame(update: Uint8Array): Buffer {
    const e = encoding.createEncoder();
    encoding.writeUint8Array(e, this.updatePrefix);
    encoding.writeVarUint8Array(e, update);
    return Buffer.from(encoding.toUint8Array(e));
  }

  classify(frame: Uint8Array): Classified {
    const p = this.prefix.length;
    if (frame.length < p + 2) return { kind: 'other', offset: 0 };
    for (let i = 0; i < p; i++) if (frame[i] !== this.prefix[i]) return { kind: 'other', offset: 0 };
    const type = frame[p];
    const sub = frame[p + 1];
    if (type === MESSAGE_SYNC && sub === SYNC_UPDATE) return { kind: 'update', offset: p + 2 };
    if (type === MESSAGE_SYNC && sub === SYNC_STEP2) return { kind: 'step2', offset: p + 2 };
    if (type === MESSAGE_AUTH && sub === AUTH_AUTHENTICATED) return { kind: 'authenticated', offset: p + 2 };
    if (type === MESSAGE_AUTH && sub === AUTH_PERMISSION_DENIED) return { kind: 'denied', offset: p + 2 };
    // The server asks for a fresh token (Hocuspocus's token sync request: Auth, Token, nothing else).
    if (type === MESSAGE_AUTH && sub === AUTH_TOKEN && frame.length === p + 2)
      return { kind: 'tokenRequest', offset: 0 };
    return { kind: 'other', offset: 0 };
  }
}

/** Reads the varUint8Array at `offset` (the Yjs update inside a sync frame) without copying. */
export function readPayload(frame: Uint8Array, offset: number): Uint8Array {
  let length = 0;
  let shift = 0;
  let pos = offset;
  for (;;) {
    const byte = frame[pos++] ?? 0;
    length += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
    shift += 7;
  }
  return frame.subarray(pos, pos + length);
}

/**
 * The latency marker embedded in each message text: `#@<seq>.<sender>.<sentUs>;`.
 * Yjs stores a JSON message's string fields as UTF-8 bytes in the update, so
 * the marker survives as-is in the relayed frame (also when the server merges
 * several updates into one broadcast) and a byte search finds it.
 */
export const MARKER_PREFIX = '#@';
const MARKER_BYTES = Buffer.from(MARKER_PREFIX);

export function markerText(seq: number, sender: number, sentUs: number): string {
  return `${MARKER_PREFIX}${seq}.${sender}.${Math.round(sentUs)};`;
}

/** Calls `found` for every marker in `frame` from `offset`. */
export function scanMarkers(
  frame: Buffer,
  offset: number,
  found: (seq: number, sender: number, sentUs: number) => void,
): void {
  let at = frame.indexOf(MARKER_BYTES, offset);
  while (at >= 0) {
    let pos = at + MARKER_BYTES.length;
    const fields = [0, 0, 0];
    let field = 0;
    let ok = false;
    while (pos < frame.length) {
      const c = frame[pos++] ?? 0;
      if (c >= 48 && c <= 57) fields[field] = (fields[field] ?? 0) * 10 + (c - 48);
      else if (c === 46 && field < 2) field++;
      else {
        ok = c === 59 && field === 2;
        break;
      }
    }
    if (ok) found(fields[0] ?? 0, fields[1] ?? 0, fields[2] ?? 0);
    at = frame.indexOf(MARKER_BYTES, pos);
  }
}
