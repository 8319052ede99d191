import { type Connection, OutgoingMessage } from '@hocuspocus/server';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import type { SyncContext } from './context';
import { ConnectionAcks, LostClients } from './update-pipeline';

/** What ConnectionAcks touches of a Hocuspocus connection: its address, `send` and `readOnly`. */
function fakeConnection() {
  const sent: Uint8Array[] = [];
  const connection = {
    messageAddress: 'room:r1',
    readOnly: false,
    send(message: Uint8Array) {
      sent.push(message);
    },
  };
  return { connection, sent, asConnection: connection as unknown as Connection };
}

const status = (applied: boolean) => new OutgoingMessage('room:r1').writeSyncStatus(applied).toUint8Array();
const member = (): SyncContext => ({ userId: 'alice', role: 'member' }) as unknown as SyncContext;

describe('ConnectionAcks: skipping Hocuspocus’s second apply', () => {
  it('marks the connection read-only until Hocuspocus’s refusal goes by, swallows it, and makes it writable again', () => {
    const { connection, sent, asConnection } = fakeConnection();
    const acks = new ConnectionAcks(asConnection);
    acks.holdNext();
    acks.skipApply(member());
    expect(connection.readOnly).toBe(true);
    // What Hocuspocus does for an update of a read-only connection: apply nothing, answer "not applied".
    connection.send(status(false));
    expect(sent).toEqual([]);
    expect(connection.readOnly).toBe(false);
    // The acknowledgement after the commit goes out, and other messages pass untouched.
    acks.send();
    connection.send(new Uint8Array([1, 2, 3]));
    expect(sent).toEqual([status(true), new Uint8Array([1, 2, 3])]);
  });

  it('keeps a downgrade to reader that lands while the apply is skipped', () => {
    const { connection, asConnection } = fakeConnection();
    const acks = new ConnectionAcks(asConnection);
    const context = member();
    acks.holdNext();
    acks.skipApply(context);
    // A membership change to reader arrives in between (what revocation.ts does to a live connection).
    (context as { role: string }).role = 'reader';
    connection.readOnly = true;
    connection.send(status(false));
    expect(connection.readOnly).toBe(true);
  });

  it('passes a refusal through when no apply is being skipped (a real read-only connection’s answer)', () => {
    const { connection, sent, asConnection } = fakeConnection();
    const acks = new ConnectionAcks(asConnection);
    acks.holdNext();
    connection.send(status(false));
    expect(sent).toEqual([status(false)]);
  });

  it('ends a skip at the latest with the connection’s next message', () => {
    const { connection, asConnection } = fakeConnection();
    const acks = new ConnectionAcks(asConnection);
    acks.skipApply(member());
    expect(connection.readOnly).toBe(true);
    acks.endSkip();
    expect(connection.readOnly).toBe(false);
  });
});

describe('LostClients', () => {
  const updateOf = (clientID: number) => {
    const doc = new Y.Doc();
    doc.clientID = clientID;
    doc.getArray('messages').push(['x']);
    return Y.encodeStateAsUpdate(doc);
  };

  it('names the writer of each Yjs client of an update that failed to store, for a while, per document', () => {
    let now = 0;
    const lost = new LostClients(1000, 10, 10, () => now);
    expect(lost.of('room:a')).toBeUndefined();
    lost.remember('room:a', updateOf(7), 'alice');
    expect([...(lost.of('room:a') ?? [])]).toEqual([[7, 'alice']]);
    expect(lost.of('room:b')).toBeUndefined();
    now = 999;
    lost.remember('room:a', updateOf(8), 'bob');
    now = 1998;
    expect([...(lost.of('room:a') ?? [])]).toEqual([
      [7, 'alice'],
      [8, 'bob'],
    ]);
    now = 1999;
    expect(lost.of('room:a')).toBeUndefined();
  });

  it('keeps at most its number of documents, dropping the oldest, and of clients per document', () => {
    const lost = new LostClients(60_000, 2, 2);
    lost.remember('room:a', updateOf(1), 'alice');
    lost.remember('room:b', updateOf(2), 'alice');
    lost.remember('room:c', updateOf(3), 'alice');
    expect(lost.of('room:a')).toBeUndefined();
    expect(lost.of('room:c')?.get(3)).toBe('alice');
    for (const client of [4, 5, 6]) lost.remember('room:c', updateOf(client), 'bob');
    expect(lost.of('room:c')?.size).toBe(2);
  });
});
