import { waitFor } from '@confab/platform/testing';
import { appendMessage, deleteMessage, type MessageId, readMessages, type UserId } from '@confab/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { MERGE_WORKER_IDLE_MS, MergeWorker, mergeInline } from './merge-worker';

/** A room written one message per update, as clients send them: its first `split` updates merged as the snapshot. */
function room(messages: number, split: number) {
  const doc = new Y.Doc();
  const updates: Uint8Array[] = [];
  doc.on('update', (update: Uint8Array) => updates.push(update));
  for (let i = 0; i < messages; i++) {
    appendMessage(doc, {
      id: `m${i}` as MessageId,
      author: 'alice' as UserId,
      text: `message number ${i}`,
      createdAt: i,
    });
  }
  return { doc, snapshot: Y.mergeUpdates(updates.slice(0, split)), log: updates.slice(split), updates };
}

const textsOf = (state: Uint8Array) => {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, state);
  return readMessages(doc).map((m) => m.text);
};

describe('MergeWorker', () => {
  const workers: MergeWorker[] = [];
  const worker = () => {
    const w = new MergeWorker();
    workers.push(w);
    return w;
  };
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
  });

  it('folds a snapshot and the log after it into the state the same merge on this thread gives', async () => {
    const { snapshot, log, doc } = room(200, 120);
    const merged = await worker().merge(snapshot, log);
    expect(textsOf(merged)).toEqual(readMessages(doc).map((m) => m.text));
    expect(merged).toEqual(await mergeInline(snapshot, log));
  });

  it('merges a log with no snapshot yet', async () => {
    const { updates, doc } = room(30, 0);
    expect(textsOf(await worker().merge(null, updates))).toEqual(readMessages(doc).map((m) => m.text));
  });

  it("drops a deleted message's text, as compaction must", async () => {
    const { doc, updates } = room(5, 0);
    doc.on('update', (update: Uint8Array) => updates.push(update));
    deleteMessage(doc, 'm2' as MessageId);
    const merged = await worker().merge(null, updates);
    expect(textsOf(merged)).toEqual(['message number 0', 'message number 1', 'message number 3', 'message number 4']);
    expect(Buffer.from(merged).includes('message number 2')).toBe(false);
  });

  it("leaves the caller's buffers usable, rows that are slices of one larger buffer included", async () => {
    const { updates, doc } = room(20, 0);
    // Pooled Buffers share one ArrayBuffer: the worker must get copies, not the pool.
    const pool = Buffer.concat(updates);
    let offset = 0;
    const rows = updates.map((u) => {
      const row = pool.subarray(offset, offset + u.byteLength);
      offset += u.byteLength;
      return row;
    });
    const merged = await worker().merge(null, rows);
    expect(textsOf(merged)).toEqual(readMessages(doc).map((m) => m.text));
    expect(pool.byteLength).toBe(offset);
    expect(Buffer.concat(rows)).toEqual(pool);
  });

  it('fails a merge of bytes that are not an update with a clear error, and merges the next one', async () => {
    const w = worker();
    const { updates } = room(3, 0);
    await expect(w.merge(null, [new Uint8Array([255, 255, 255, 255, 255])])).rejects.toThrow(/merge failed/);
    expect(textsOf(await w.merge(null, updates))).toHaveLength(3);
  });

  it('answers merges in flight together, each with its own room', async () => {
    const w = worker();
    const a = room(50, 10);
    const b = room(70, 0);
    const [ma, mb] = await Promise.all([w.merge(a.snapshot, a.log), w.merge(null, b.updates)]);
    expect(textsOf(ma)).toHaveLength(50);
    expect(textsOf(mb)).toHaveLength(70);
  });

  it('ends its thread once no merge came for a while, and starts a new one for the next merge', async () => {
    const w = new MergeWorker(100);
    workers.push(w);
    expect(w.threadRunning).toBe(false);
    const a = room(30, 10);
    expect(textsOf(await w.merge(a.snapshot, a.log))).toHaveLength(30);
    expect(w.threadRunning).toBe(true);
    await waitFor(() => !w.threadRunning, { message: 'the idle thread to end', timeoutMs: 5000, intervalMs: 0 });
    // Right away, while the old thread is still exiting: its exit must not fail the new thread's merge.
    const b = room(40, 0);
    expect(textsOf(await w.merge(null, b.updates))).toHaveLength(40);
    expect(w.threadRunning).toBe(true);
  });

  it('folds a long run of one client’s messages within a bounded heap, on either thread', async () => {
    // One client, 20,000 messages in a row (a bot, a user's offline backlog): in one Yjs transaction the fold
    // needed 2.7 GB of heap (quadratic); ROWS_PER_TRANSACTION at a time, a few MB.
    const { updates } = room(20_000, 0);
    const w = new MergeWorker(MERGE_WORKER_IDLE_MS, { maxHeapMb: 128 });
    workers.push(w);
    const texts = textsOf(await w.merge(null, updates));
    expect(texts).toHaveLength(20_000);
    expect(texts.at(-1)).toBe('message number 19999');
    expect(textsOf(await mergeInline(null, updates))).toEqual(texts);
  });

  it('refuses merges once closed', async () => {
    const w = worker();
    await w.close();
    await expect(w.merge(null, [])).rejects.toThrow(/closed/);
  });
});
