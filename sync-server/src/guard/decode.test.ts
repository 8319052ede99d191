import { deleteMessage, editMessage, type MessageId, markRead, setReaction, type UserId } from '@confab/protocol';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { type DecodedUpdate, decodeUpdateBounded } from './decode';
import { alice, post } from './test-kit';

/** What Yjs's own decoder sees, in the decoder's terms. */
function viaYjs(update: Uint8Array) {
  const { structs, ds } = Y.decodeUpdate(update);
  return {
    structs: structs.map((s) => ({
      client: s.id.client,
      clock: s.id.clock,
      length: s.length,
      origin: s instanceof Y.Item && s.origin ? { client: s.origin.client, clock: s.origin.clock } : null,
      rightOrigin:
        s instanceof Y.Item && s.rightOrigin ? { client: s.rightOrigin.client, clock: s.rightOrigin.clock } : null,
      parentSub: s instanceof Y.Item ? s.parentSub : null,
    })),
    deletes: [...ds.clients].flatMap(([client, ranges]) =>
      ranges.map((r) => ({ client, clock: r.clock, length: r.len })),
    ),
  };
}

function mine(update: DecodedUpdate) {
  return {
    structs: update.structs.map((s) => ({
      client: s.client,
      clock: s.clock,
      length: s.length,
      origin: s.kind === 'item' ? s.origin : null,
      rightOrigin: s.kind === 'item' ? s.rightOrigin : null,
      parentSub: s.kind === 'item' ? s.parentSub : null,
    })),
    deletes: update.deletes,
  };
}

describe('bounded decoder', () => {
  it('reads every kind of content Yjs writes', () => {
    const doc = new Y.Doc();
    const text = doc.getText('t');
    text.insert(0, 'hello', { bold: true });
    text.insertEmbed(5, { image: 'x' });
    doc.getXmlFragment('x').insert(0, [new Y.XmlElement('p'), new Y.XmlText('hi')]);
    doc.getArray('a').insert(0, [new Uint8Array([1, 2]), 1, 'x', { k: [1, null, true] }, new Y.Doc()]);
    const decoded = decodeUpdateBounded(Y.encodeStateAsUpdate(doc));
    expect(decoded.ok).toBe(true);
    const kinds = decoded.ok ? decoded.update.structs.map((s) => (s.kind === 'item' ? s.content.kind : s.kind)) : [];
    expect(new Set(kinds)).toEqual(new Set(['format', 'string', 'embed', 'type', 'binary', 'any', 'doc']));
  });

  it('agrees with Yjs on the structs and delete set of room updates', () => {
    const doc = new Y.Doc();
    const messages = [post(doc, alice, 'one'), post(doc, alice, 'two'), post(doc, alice, 'three')];
    editMessage(doc, messages[0]!.id, 'one!', 5);
    editMessage(doc, messages[0]!.id, 'one!!', 6);
    setReaction(doc, messages[1]!.id, 'alice' as UserId, '👍', true, 7);
    markRead(doc, 'alice' as UserId, messages[2]!.id, 8);
    deleteMessage(doc, messages[1]!.id);
    const other = new Y.Doc();
    Y.applyUpdate(other, Y.encodeStateAsUpdate(doc));
    post(other, alice, 'four');
    deleteMessage(other, 'nope' as MessageId);
    deleteMessage(other, messages[2]!.id);
    for (const update of [Y.encodeStateAsUpdate(doc), Y.encodeStateAsUpdate(other)]) {
      const decoded = decodeUpdateBounded(update);
      expect(decoded.ok).toBe(true);
      if (decoded.ok) expect(mine(decoded.update)).toEqual(viaYjs(update));
    }
  });

  it('decodes message values as plain objects with every field', () => {
    const doc = new Y.Doc();
    const m = post(doc, alice, 'hello');
    const decoded = decodeUpdateBounded(Y.encodeStateAsUpdate(doc));
    const item = decoded.ok ? decoded.update.structs[0] : undefined;
    const value = item?.kind === 'item' && item.content.kind === 'any' ? item.content.values[0] : undefined;
    expect(value).toEqual(m);
  });
});
