import type { ChatMessage } from '@confab/protocol';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';

/**
 * Encodes, by hand, the Yjs update (v1) a provider sends when its user
 * pushes one message onto `messages`: one Item with ContentAny, left origin
 * = the last item the client has seen, no right origin. Byte for byte what
 * `messages.push([message])` produces (checked by `checkAppendEncoding`), at
 * a fraction of the cost and without a Y.Doc per client.
 *
 * Why not build it on a shared Y.Doc: an append built on a doc that already
 * holds this process's unconfirmed appends would have a left origin the
 * server may not have yet (it came on another socket), and Yjs parks such
 * updates as pending and retries them on every later update; that is a
 * generator artefact no real client produces, and it collapses the server.
 * Origins here are only items the server has sent back (confirmed).
 *
 * Layout (yjs src/utils/encoding.js writeClientsStructs, Item.write, ContentAny.write):
 *   varUint 1 (clients) · varUint 1 (structs) · varUint client · varUint clock
 *   · uint8 info (8 = ContentAny | 0x80 origin present)
 *   · origin: varUint client · varUint clock   — or, at the start of the array:
 *     varUint 1 (parent is a root key) · varString 'messages'
 *   · varUint 1 (one element) · any(message) · varUint 0 (empty delete set)
 */
const CONTENT_ANY = 8;
const HAS_ORIGIN = 0x80;

export interface ItemId {
  client: number;
  clock: number;
}

export function encodeAppendUpdate(
  client: number,
  clock: number,
  origin: ItemId | null,
  message: ChatMessage,
): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 1);
  encoding.writeVarUint(e, 1);
  encoding.writeVarUint(e, client);
  encoding.writeVarUint(e, clock);
  encoding.writeUint8(e, CONTENT_ANY | (origin ? HAS_ORIGIN : 0));
  if (origin) {
    encoding.writeVarUint(e, origin.client);
    encoding.writeVarUint(e, origin.clock);
  } else {
    encoding.writeVarUint(e, 1);
    encoding.writeVarString(e, 'messages');
  }
  encoding.writeVarUint(e, 1);
  encoding.writeAny(e, message as unknown as encoding.AnyEncodable);
  encoding.writeVarUint(e, 0);
  return encoding.toUint8Array(e);
}

/**
 * The id of the last element of the `messages` array in `doc`, walking right
 * from `from` (the previous answer): the list's end is reachable from any
 * item, so this is amortised O(new items).
 */
export function lastMessageItem(doc: Y.Doc, from: Y.Item | null): Y.Item | null {
  let item = from ?? doc.getArray('messages')._start;
  if (!item) return null;
  while (item.right) item = item.right;
  return item;
}

export function lastElementId(item: Y.Item | null): ItemId | null {
  return item ? { client: item.id.client, clock: item.id.clock + item.length - 1 } : null;
}

/** Throws unless the hand encoding equals what Yjs itself writes for the same append. */
export function checkAppendEncoding(): void {
  const message = (i: number): ChatMessage =>
    ({ id: `m${i}`, author: 'u1', text: `hello ${i}`, createdAt: 1_790_000_000_000 + i }) as ChatMessage;
  const doc = new Y.Doc();
  doc.clientID = 123_456_789;
  const seen: Uint8Array[] = [];
  doc.on('update', (u: Uint8Array) => seen.push(u));
  const messages = doc.getArray<ChatMessage>('messages');
  messages.push([message(0)]);
  messages.push([message(1)]);
  const first = encodeAppendUpdate(doc.clientID, 0, null, message(0));
  const second = encodeAppendUpdate(doc.clientID, 1, { client: doc.clientID, clock: 0 }, message(1));
  const same = (a: Uint8Array, b: Uint8Array | undefined) =>
    !!b && a.length === b.length && a.every((x, i) => x === b[i]);
  if (!same(first, seen[0]) || !same(second, seen[1])) {
    throw new Error('hand-encoded append differs from the Yjs encoding: the yjs version changed the format');
  }
}
