import * as encoding from 'lib0/encoding';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';

import { documentWithChanges } from './wire';

function message(type: number, step?: number, payload?: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, 'room:r1');
  encoding.writeVarUint(encoder, type);
  if (step !== undefined) encoding.writeVarUint(encoder, step);
  if (payload) encoding.writeVarUint8Array(encoder, payload);
  return encoding.toUint8Array(encoder);
}

describe('outgoing messages', () => {
  const doc = new Y.Doc();
  doc.getArray('messages').push(['hi']);
  const change = Y.encodeStateAsUpdate(doc);
  const nothing = Y.encodeStateAsUpdate(new Y.Doc());

  it('recognises an update and a sync step 2 that carry changes', () => {
    expect(documentWithChanges(message(0, 2, change))).toBe('room:r1');
    expect(documentWithChanges(message(0, 1, change))).toBe('room:r1');
  });

  it('ignores empty step 2 replies, state vectors, awareness and garbage', () => {
    expect(documentWithChanges(message(0, 1, nothing))).toBeNull();
    expect(documentWithChanges(message(0, 0, Y.encodeStateVector(doc)))).toBeNull();
    expect(documentWithChanges(message(1, undefined, new Uint8Array([1, 2, 3])))).toBeNull();
    expect(documentWithChanges(new Uint8Array([9]))).toBeNull();
  });
});
