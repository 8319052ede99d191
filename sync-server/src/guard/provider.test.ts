import { uniqueSuffix, waitFor } from '@confab/platform/testing';
import {
  appendMessage,
  deleteMessage,
  editMessage,
  type MessageId,
  markRead,
  readMessages,
  roomMaps,
  setReaction,
  type UserId,
} from '@confab/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConfabGuard } from '../extensions/confab-guard';
import { startTestServer, type TestServer } from '../testing/harness';

/**
 * The guard behind the real server, with real @hocuspocus/provider clients:
 * what a provider actually sends (sync step 2 on connect, updates, an offline
 * batch on reconnect) passes, and a forged update closes the connection.
 */
const room = () => `room:r${uniqueSuffix()}`;
const u = (s: string) => s as UserId;
let seq = 0;
const say = (author: string, text: string) => ({
  id: `p${uniqueSuffix()}${seq++}` as MessageId,
  author: u(author),
  text,
  createdAt: Date.now(),
});
const texts = (doc: import('yjs').Doc) => readMessages(doc).map((m) => m.text);

describe('the guard behind a real sync server', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ guard: createConfabGuard() });
  });
  afterAll(async () => {
    await t?.stop();
    await t?.db.close();
  });

  it('accepts what real providers send for messages, edits, reactions and read markers', async () => {
    const name = room();
    const a = await t.connect({ name, user: 'alice' });
    const b = await t.connect({ name, user: 'bob' });
    const m = appendMessage(a.doc, say('alice', 'hello'));
    await a.acknowledged();
    await waitFor(() => texts(b.doc).includes('hello'));
    editMessage(a.doc, m.id, 'hello, world', Date.now());
    setReaction(b.doc, m.id, u('bob'), '👍', true, Date.now());
    markRead(b.doc, u('bob'), m.id, Date.now());
    await Promise.all([a.acknowledged(), b.acknowledged()]);
    await waitFor(() => texts(b.doc).includes('hello, world') && readMessages(a.doc)[0]?.reactions['👍'] !== undefined);
    expect([...a.closes, ...b.closes].filter((c) => c.code === 4422)).toEqual([]);
  });

  it('accepts an offline batch on reconnect although others appended meanwhile', async () => {
    const name = room();
    const a = await t.connect({ name, user: 'alice' });
    appendMessage(a.doc, say('alice', 'before'));
    await a.acknowledged();
    const offlineDoc = a.doc;
    a.destroy();
    appendMessage(offlineDoc, say('alice', 'offline one'));
    appendMessage(offlineDoc, say('alice', 'offline two'));
    const b = await t.connect({ name, user: 'bob' });
    appendMessage(b.doc, say('bob', 'meanwhile'));
    await b.acknowledged();
    const back = await t.connect({ name, user: 'alice', document: offlineDoc });
    await back.acknowledged();
    await waitFor(() => texts(b.doc).length === 4 && texts(back.doc).length === 4);
    expect(new Set(texts(b.doc))).toEqual(new Set(['before', 'offline one', 'offline two', 'meanwhile']));
    expect(back.closes.filter((c) => c.code === 4422)).toEqual([]);
  });

  it('accepts an offline edit and reaction of a message an owner deleted meanwhile, and readers never see the edit', async () => {
    const name = room();
    const a = await t.connect({ name, user: 'alice' });
    const m = appendMessage(a.doc, say('alice', 'regrettable'));
    await a.acknowledged();
    const offlineDoc = a.doc;
    a.destroy();
    editMessage(offlineDoc, m.id, 'edited offline', Date.now());
    setReaction(offlineDoc, m.id, u('alice'), '🙈', true, Date.now());
    appendMessage(offlineDoc, say('alice', 'still here'));
    const owner = await t.connect({ name, user: 'olivia', role: 'owner' });
    await waitFor(() => texts(owner.doc).includes('regrettable'));
    deleteMessage(owner.doc, m.id);
    await owner.acknowledged();
    const back = await t.connect({ name, user: 'alice', document: offlineDoc });
    await back.acknowledged();
    await waitFor(() => texts(owner.doc).includes('still here'));
    expect(back.closes.filter((c) => c.code === 4422)).toEqual([]);
    expect(texts(owner.doc)).toEqual(['still here']);
    expect(texts(back.doc)).toEqual(['still here']);
  });

  it('refuses a message taking the id of one deleted before the room was compacted and loaded again', async () => {
    const name = room();
    const a = await t.connect({ name, user: 'alice' });
    const m = appendMessage(a.doc, say('alice', 'soon gone'));
    setReaction(a.doc, m.id, u('alice'), '🎉', true, Date.now());
    await a.acknowledged();
    deleteMessage(a.doc, m.id);
    await a.acknowledged();
    // A deletion brings a compaction within seconds: then storage holds nothing of the message.
    await waitFor(
      async () => {
        const stored = await t.server.store.load(name);
        return stored.snapshot !== null && !Buffer.concat([stored.snapshot, ...stored.updates]).includes('soon gone');
      },
      { timeoutMs: 8000, message: 'compacted' },
    );
    a.destroy();
    await waitFor(() => !t.server.hocuspocus.documents.has(name), { message: 'unloaded' });
    // Loaded again: the reaction is still there, keyed by the old id, which a new message would inherit.
    const mallory = await t.connect({ name, user: 'mallory' });
    roomMaps(mallory.doc).messages.push([{ ...say('mallory', 'wearing the old id'), id: m.id }]);
    await waitFor(() => mallory.closes.some((c) => c.code === 4422), { message: 'close 4422' });
    mallory.destroy();
    const watcher = await t.connect({ name, user: 'bob' });
    expect(texts(watcher.doc)).toEqual([]);
    // A message with an id of its own is welcome.
    appendMessage(watcher.doc, say('bob', 'fresh id'));
    await watcher.acknowledged();
    expect(watcher.closes.filter((c) => c.code === 4422)).toEqual([]);
  });

  it('closes a connection that forges an author with forbidden_update, and no one sees the message', async () => {
    const name = room();
    const watcher = await t.connect({ name, user: 'bob' });
    const evil = await t.connect({ name, user: 'mallory' });
    roomMaps(evil.doc).messages.push([say('bob', 'I am bob')]);
    await waitFor(() => evil.closes.some((c) => c.code === 4422), { message: 'close 4422' });
    expect(evil.closes.find((c) => c.code === 4422)?.reason).toBe('forbidden_update');
    evil.destroy();
    const good = await t.connect({ name, user: 'alice' });
    appendMessage(good.doc, say('alice', 'legitimate'));
    await good.acknowledged();
    await waitFor(() => texts(watcher.doc).includes('legitimate'));
    expect(texts(watcher.doc)).toEqual(['legitimate']);
  });
});
