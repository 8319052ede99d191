import { uniqueSuffix } from '@confab/platform/testing';
import { appendMessage, newMessageId, type UserId } from '@confab/protocol';
import * as encoding from 'lib0/encoding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestServer, type TestServer } from './testing/harness';

/** A raw Hocuspocus frame: document name, message type, then the body. */
function frame(documentName: string, write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarString(e, documentName);
  write(e);
  return encoding.toUint8Array(e);
}
const authFrame = (doc: string, token: string) =>
  frame(doc, (e) => {
    encoding.writeVarUint(e, 2); // Auth
    encoding.writeVarUint(e, 0); // Token
    encoding.writeVarString(e, token);
  });
const updateFrame = (doc: string, update: Uint8Array) =>
  frame(doc, (e) => {
    encoding.writeVarUint(e, 0); // Sync
    encoding.writeVarUint(e, 2); // Update
    encoding.writeVarUint8Array(e, update);
  });

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

/** Crafted updates: yjs issue 687's buffers, a value nested 300 000 deep, an absurd struct count. */
function hostileUpdates(): Uint8Array[] {
  const deep = encoding.createEncoder();
  for (const v of [1, 1, 42, 0, 8, 1]) encoding.writeVarUint(deep, v);
  encoding.writeVarString(deep, 'messages');
  encoding.writeVarUint(deep, 1);
  for (let i = 0; i < 300_000; i++) {
    encoding.writeUint8(deep, 117); // Any: array
    encoding.writeVarUint(deep, 1);
  }
  encoding.writeUint8(deep, 126);
  encoding.writeVarUint(deep, 0);
  const many = encoding.createEncoder();
  for (const v of [1, 2 ** 40, 1, 0]) encoding.writeVarUint(many, v);
  encoding.writeUint8(many, 0);
  return [
    hex('00010000000001000100010200001602000001fdffffffff7f0000'),
    hex('000002a50100000104060374686901020101000001010000'),
    hex('01ffffffffffffffff7f2a0000'),
    encoding.toUint8Array(deep),
    encoding.toUint8Array(many),
  ];
}

describe('a crafted update', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ guard: undefined }); // the real guard
  });
  afterAll(async () => {
    await t?.stop();
    await t?.db.close();
  });

  it('is refused with forbidden_update and does not stall another room', async () => {
    const calm = `room:calm${uniqueSuffix()}`;
    const hostile = `room:hostile${uniqueSuffix()}`;
    const writer = await t.connect({ name: calm, user: 'alice' });

    // Baseline round trips in the calm room, then the same while hostile sockets keep sending crafted updates.
    const roundTrip = async () => {
      const started = performance.now();
      appendMessage(writer.doc, { id: newMessageId(), author: 'alice' as UserId, text: 'ping', createdAt: 1 });
      await writer.acknowledged();
      return performance.now() - started;
    };
    const baseline: number[] = [];
    for (let i = 0; i < 10; i++) baseline.push(await roundTrip());

    const token = await t.sign({ sub: 'mallory', doc: hostile });
    const closes: number[] = [];
    const attack = (async () => {
      for (let round = 0; round < 4; round++) {
        await Promise.all(
          hostileUpdates().map(
            (update) =>
              new Promise<void>((resolve) => {
                const ws = new WebSocket(`${t.url}?protocolVersion=1`);
                ws.on('open', () => {
                  ws.send(authFrame(hostile, token));
                  ws.send(updateFrame(hostile, update));
                });
                ws.on('close', (code) => {
                  closes.push(code);
                  resolve();
                });
                ws.on('error', () => {});
              }),
          ),
        );
      }
    })();
    const underAttack: number[] = [];
    let attacking = true;
    void attack.then(() => {
      attacking = false;
    });
    while (attacking || underAttack.length < 10) underAttack.push(await roundTrip());
    await attack;

    expect(closes).toHaveLength(20);
    expect(closes.every((code) => code === 4422)).toBe(true);
    expect(t.server.hocuspocus.documents.get(hostile)?.getArray('messages').length ?? 0).toBe(0);
    expect((await t.server.store.load(hostile)).updates).toHaveLength(0);
    // Every round trip of the calm room stayed quick while the crafted updates were handled.
    expect(Math.max(...underAttack)).toBeLessThan(Math.max(250, 10 * Math.max(...baseline)));
    writer.destroy();
  });
});
