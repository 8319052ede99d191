import * as A from '@automerge/automerge';
import { appendMessage, type ChatMessage, messageShapeError, roomMaps, type UserId, uuidv7 } from '@confab/protocol';
import * as Y from 'yjs';

/**
 * The same chat model in both CRDTs: room schema v1 (`messages` list of
 * plain message objects plus the `edits`, `reactions` and `reads` maps).
 *
 * Yjs goes through @confab/protocol's accessors, as the client does; the
 * messages come from 20 authors (20 Yjs client ids), because one client's
 * consecutive appends merge into one Item and would flatter Yjs. Automerge 3
 * stores the message strings as ImmutableString: message text is replaced
 * through `edits`, never edited in place, which is what Yjs's plain JSON
 * gives too; Automerge's default collaborative strings would cost a text
 * object per message. Automerge's room is written by one actor: unlike Yjs
 * it does not merge consecutive ops of one writer into fewer records, so
 * more actors would not shrink it.
 */
export const AUTHORS = 20;

export function messageAt(i: number, nowMs: number): ChatMessage {
  return {
    id: uuidv7(nowMs + i),
    author: `user-${i % AUTHORS}` as UserId,
    text: `message ${i}: a chat line of a typical length, about sixty characters`,
    createdAt: nowMs + i,
  } as ChatMessage;
}

export interface CrdtModel {
  name: 'yjs' | 'automerge';
  /** Distinct writers in the built room (Yjs client ids, Automerge actors). */
  writers: number;
  /** Builds a room of `n` messages, one change (transaction) per message, and returns its saved bytes. */
  build(n: number): Uint8Array;
  /** Loads saved bytes and returns the number of messages (Yjs integrates everything on load; Automerge builds its document). */
  load(bytes: Uint8Array): { handle: unknown; messages: number };
  /** Appends one message to a loaded room; returns the bytes a peer receives for it. */
  append(handle: unknown, message: ChatMessage): { handle: unknown; change: Uint8Array };
  /** Applies a peer's change to a loaded room (what a server or another client does). */
  applyRemote(handle: unknown, change: Uint8Array): unknown;
}

export const yjsModel: CrdtModel = {
  name: 'yjs',
  writers: AUTHORS,
  build(n) {
    const doc = new Y.Doc();
    const ids = Array.from({ length: AUTHORS }, (_, i) => 1000 + i);
    const now = Date.now();
    const { messages } = roomMaps(doc);
    for (let i = 0; i < n; i++) {
      doc.clientID = ids[i % AUTHORS] ?? 1;
      const message = messageAt(i, now);
      const problem = messageShapeError(message);
      if (problem) throw new Error(problem);
      // insert(length) rather than appendMessage's push: the same item (right
      // origin null), but it keeps Yjs's search markers, where push walks the
      // list from its start and makes building a 100k room quadratic.
      messages.insert(messages.length, [message]);
    }
    return Y.encodeStateAsUpdate(doc);
  },
  load(bytes) {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, bytes);
    return { handle: doc, messages: roomMaps(doc).messages.length };
  },
  append(handle, message) {
    const doc = handle as Y.Doc;
    let change: Uint8Array = new Uint8Array();
    const capture = (u: Uint8Array) => {
      change = u;
    };
    doc.on('update', capture);
    appendMessage(doc, message);
    doc.off('update', capture);
    return { handle: doc, change };
  },
  applyRemote(handle, change) {
    Y.applyUpdate(handle as Y.Doc, change);
    return handle;
  },
};

type AutomergeMessage = {
  id: A.ImmutableString;
  author: A.ImmutableString;
  text: A.ImmutableString;
  createdAt: number;
};
type AutomergeRoom = {
  messages: AutomergeMessage[];
  edits: Record<string, { text: A.ImmutableString; editedAt: number }>;
  reactions: Record<string, number>;
  reads: Record<string, { messageId: A.ImmutableString; at: number }>;
};

function toAutomerge(m: ChatMessage): AutomergeMessage {
  return {
    id: new A.ImmutableString(m.id),
    author: new A.ImmutableString(m.author),
    text: new A.ImmutableString(m.text),
    createdAt: m.createdAt,
  };
}

export const automergeModel: CrdtModel = {
  name: 'automerge',
  writers: 1,
  build(n) {
    // One commit per message through the document's backend: the same ops and
    // changes `A.change(doc, d => d.messages.push(m))` records (checked: equal
    // change sizes), without rebuilding the immutable JS view of the whole
    // list on every change, which makes building a 100k room quadratic.
    const backend = A.getBackend(A.from<AutomergeRoom>({ messages: [], edits: {}, reactions: {}, reads: {} })).clone();
    const list = backend.getWithType('_root', 'messages');
    if (list?.[0] !== 'list') throw new Error('automerge: no messages list');
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      const m = messageAt(i, now);
      const obj = backend.insertObject(list[1] as string, i, {});
      backend.put(obj, 'id', m.id, 'str');
      backend.put(obj, 'author', m.author, 'str');
      backend.put(obj, 'text', m.text, 'str');
      backend.put(obj, 'createdAt', m.createdAt, 'int');
      backend.commit(null, Math.floor(m.createdAt / 1000));
    }
    return backend.save();
  },
  load(bytes) {
    const doc = A.load<AutomergeRoom>(bytes);
    return { handle: doc, messages: doc.messages.length };
  },
  append(handle, message) {
    const m = toAutomerge(message);
    const doc = A.change(handle as A.Doc<AutomergeRoom>, (d) => {
      d.messages.push(m);
    });
    const change = A.getLastLocalChange(doc);
    if (!change) throw new Error('automerge produced no change');
    return { handle: doc, change };
  },
  applyRemote(handle, change) {
    const [doc] = A.applyChanges(handle as A.Doc<AutomergeRoom>, [change]);
    return doc;
  },
};

export const MODELS = { yjs: yjsModel, automerge: automergeModel } as const;
