import { uniqueSuffix, waitFor } from '@confab/platform/testing';
import { MessageType } from '@hocuspocus/server';
import * as encoding from 'lib0/encoding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness';
import * as Y from 'yjs';
import { createConfabGuard } from './extensions/confab-guard';
import { MAX_AWARENESS_CLIENTS_PER_CONNECTION } from './guard/awareness';
import { startTestServer, type TestClient, type TestServer } from './testing/harness';

/**
 * Presence (Yjs awareness) entries are bound to the connection that
 * introduced them (docs/security.md, "Known gaps" 2), checked with real
 * @hocuspocus/provider clients against a real server and the real guard.
 * The attacks are raw awareness frames, as a hostile client would craft them:
 * an entry for another connection's client id (its own state or `null`, with a
 * huge clock, so the victim's later updates would lose on clock), and one
 * frame introducing 50 client ids.
 */
const room = () => `room:r${uniqueSuffix()}`;
// Larger than any clock a real client reaches; a valid varuint.
const HUGE_CLOCK = 2 ** 40;

type PresenceState = { user: { id: string; displayName: string }; typing?: boolean } | null;

/** One awareness message as it goes over the wire: document name, message type, y-protocols update. */
function awarenessFrame(
  documentName: string,
  entries: Array<{ clientId: number; clock: number; state: PresenceState }>,
) {
  const scratch = new Awareness(new Y.Doc());
  for (const { clientId, clock, state } of entries) {
    if (state === null) scratch.states.delete(clientId);
    else scratch.states.set(clientId, state);
    scratch.meta.set(clientId, { clock, lastUpdated: 0 });
  }
  const update = encodeAwarenessUpdate(
    scratch,
    entries.map((e) => e.clientId),
  );
  scratch.destroy();
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, documentName);
  encoding.writeVarUint(encoder, MessageType.Awareness);
  encoding.writeVarUint8Array(encoder, update);
  return encoding.toUint8Array(encoder);
}

function sendRaw(client: TestClient, frame: Uint8Array): void {
  client.provider.configuration.websocketProvider.send(frame);
}

const presenceOf = (client: TestClient) => client.provider.awareness?.getStates() ?? new Map();
const stateOf = (client: TestClient, clientId: number) => presenceOf(client).get(clientId) as PresenceState | undefined;
const userOf = (client: TestClient, clientId: number) => stateOf(client, clientId)?.user?.id;

async function present(t: TestServer, name: string, user: string): Promise<TestClient> {
  const client = await t.connect({ name, user });
  client.provider.setAwarenessField('user', { id: user, displayName: user });
  client.provider.setAwarenessField('typing', false);
  return client;
}

/** Sends a truthful awareness change from the observer's side as a fence: once it arrives, earlier frames were handled. */
async function fence(from: TestClient, to: TestClient, user: string): Promise<void> {
  const marker = `${user} ${uniqueSuffix()}`;
  from.provider.setAwarenessField('user', { id: user, displayName: marker });
  await waitFor(() => (stateOf(to, from.doc.clientID)?.user?.displayName ?? '') === marker, {
    message: `${user}'s fence to arrive`,
  });
}

/** Alice and Bob present in the room, once Alice sees Bob. */
async function aliceSeesBob(t: TestServer, name: string) {
  const alice = await present(t, name, 'alice');
  const bob = await present(t, name, 'bob');
  const bobId = bob.doc.clientID;
  await waitFor(() => userOf(alice, bobId) === 'bob', { message: 'alice to see bob' });
  return { alice, bob, bobId };
}

describe('presence entries belong to the connection that introduced them', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ guard: createConfabGuard() });
  });
  afterAll(async () => {
    await t?.stop();
    await t?.db.close();
  });

  it('does not relay a spoofed state for another connection’s client id, and the victim stays visible with its own state', async () => {
    const name = room();
    const victim = await present(t, name, 'alice');
    const attacker = await present(t, name, 'mallory');
    const observer = await present(t, name, 'olga');
    const victimId = victim.doc.clientID;
    await waitFor(() => userOf(observer, victimId) === 'alice' && userOf(attacker, victimId) === 'alice');

    sendRaw(
      attacker,
      awarenessFrame(name, [
        { clientId: victimId, clock: HUGE_CLOCK, state: { user: { id: 'mallory', displayName: 'mallory' } } },
      ]),
    );
    await fence(attacker, observer, 'mallory');
    expect(userOf(observer, victimId)).toBe('alice');

    // The victim's own later updates still reach everyone: their clock did not lose to the forged one.
    victim.provider.setAwarenessField('typing', true);
    await waitFor(() => stateOf(observer, victimId)?.typing === true, { message: 'the victim typing to be seen' });
    expect(stateOf(observer, victimId)).toEqual({ user: { id: 'alice', displayName: 'alice' }, typing: true });
    expect(userOf(attacker, victimId)).toBe('alice');
  });

  it('does not let a null state for another connection’s client id remove them', async () => {
    const name = room();
    const victim = await present(t, name, 'alice');
    const attacker = await present(t, name, 'mallory');
    const observer = await present(t, name, 'olga');
    const victimId = victim.doc.clientID;
    await waitFor(() => userOf(observer, victimId) === 'alice');

    sendRaw(attacker, awarenessFrame(name, [{ clientId: victimId, clock: HUGE_CLOCK, state: null }]));
    await fence(attacker, observer, 'mallory');
    expect(userOf(observer, victimId)).toBe('alice');

    victim.provider.setAwarenessField('typing', true);
    await waitFor(() => stateOf(observer, victimId)?.typing === true, { message: 'the victim typing to be seen' });
    // A newcomer gets the whole presence from the server: the victim is in it.
    const late = await t.connect({ name, user: 'lena' });
    await waitFor(() => userOf(late, victimId) === 'alice', { message: 'the newcomer to see the victim' });
  });

  it(`relays at most ${MAX_AWARENESS_CLIENTS_PER_CONNECTION} client ids from one connection that introduces 50`, async () => {
    const name = room();
    const attacker = await present(t, name, 'mallory');
    const observer = await present(t, name, 'olga');
    await waitFor(() => userOf(observer, attacker.doc.clientID) === 'mallory');

    const forged = Array.from({ length: 50 }, (_, i) => ({
      clientId: 1_000_000 + i,
      clock: 1,
      state: { user: { id: 'mallory', displayName: `mallory ${i}` } },
    }));
    sendRaw(attacker, awarenessFrame(name, forged));
    await fence(attacker, observer, 'mallory');
    const fromMallory = [...presenceOf(observer).values()].filter((s) => s?.user?.id === 'mallory');
    // Its own tab's id counts as one of its four.
    expect(fromMallory).toHaveLength(MAX_AWARENESS_CLIENTS_PER_CONNECTION);
    expect(t.server.hocuspocus.documents.get(name)?.awareness.getStates().size).toBe(
      MAX_AWARENESS_CLIENTS_PER_CONNECTION + 1,
    );
  });

  it('keeps legitimate presence working: join, typing on and off, leave on disconnect', async () => {
    const name = room();
    const alice = await present(t, name, 'alice');
    const bob = await present(t, name, 'bob');
    await waitFor(() => userOf(alice, bob.doc.clientID) === 'bob' && userOf(bob, alice.doc.clientID) === 'alice');

    bob.provider.setAwarenessField('typing', true);
    await waitFor(() => stateOf(alice, bob.doc.clientID)?.typing === true);
    bob.provider.setAwarenessField('typing', false);
    await waitFor(() => stateOf(alice, bob.doc.clientID)?.typing === false);

    const bobId = bob.doc.clientID;
    bob.destroy();
    await waitFor(() => !presenceOf(alice).has(bobId), { message: 'bob to leave' });
    expect(t.server.hocuspocus.documents.get(name)?.awareness.getStates().has(bobId)).toBe(false);
  });

  it('lets a tab that reconnects keep its client id once the old connection closed, and then leave again', async () => {
    const name = room();
    const { alice, bob, bobId } = await aliceSeesBob(t, name);

    const socket = bob.provider.configuration.websocketProvider;
    socket.disconnect();
    await waitFor(() => !presenceOf(alice).has(bobId), { message: 'bob to drop out' });
    await socket.connect();
    await waitFor(() => bob.provider.isSynced, { message: 'bob to sync again' });
    // The tab re-announces its state at the clock everyone saw with its removal, which y-protocols
    // ignores everywhere: it shows again with its next change (at the latest its 15 s renewal).
    bob.provider.setAwarenessField('typing', true);
    await waitFor(() => stateOf(alice, bobId)?.typing === true, { message: 'bob to be back, typing' });
    expect(userOf(alice, bobId)).toBe('bob');

    // Released with the second connection as well, so a third one of the same tab works too.
    bob.destroy();
    await waitFor(() => !presenceOf(alice).has(bobId), { message: 'bob to leave' });
  });

  it('ignores an awareness message handled after its connection closed, so the tab that left does not come back as a ghost', async () => {
    const name = room();
    const { alice, bob, bobId } = await aliceSeesBob(t, name);
    const document = t.server.hocuspocus.documents.get(name);
    const stale = document?.getConnections().find((c) => c.context.userId === 'bob');
    if (!document || !stale) throw new Error('bob is connected to the loaded room');

    bob.destroy();
    await waitFor(() => !presenceOf(alice).has(bobId), { message: 'bob to leave' });
    // Hocuspocus handles a connection's messages one after another, awaiting the hooks of each, so
    // one can still be handled after the socket closed: the tab's last presence change, here.
    stale.handleMessage(
      awarenessFrame(name, [
        { clientId: bobId, clock: HUGE_CLOCK, state: { user: { id: 'bob', displayName: 'bob' } } },
      ]),
    );
    await stale.waitForPendingMessages();
    expect(document.awareness.getStates().has(bobId)).toBe(false);
    const carol = await present(t, name, 'carol');
    await fence(carol, alice, 'carol');
    expect(presenceOf(alice).has(bobId)).toBe(false);
  });

  it('does not let another user take over a client id while its tab is away', async () => {
    const name = room();
    const { alice, bob, bobId } = await aliceSeesBob(t, name);
    const attacker = await present(t, name, 'mallory');

    const socket = bob.provider.configuration.websocketProvider;
    socket.disconnect();
    await waitFor(() => !presenceOf(alice).has(bobId), { message: 'bob to drop out' });
    sendRaw(
      attacker,
      awarenessFrame(name, [
        { clientId: bobId, clock: HUGE_CLOCK, state: { user: { id: 'mallory', displayName: 'mallory' } } },
      ]),
    );
    await fence(attacker, alice, 'mallory');
    expect(presenceOf(alice).has(bobId)).toBe(false);

    await socket.connect();
    await waitFor(() => bob.provider.isSynced, { message: 'bob to sync again' });
    bob.provider.setAwarenessField('typing', true);
    await waitFor(() => stateOf(alice, bobId)?.typing === true, { message: 'bob to be back, typing' });
    expect(userOf(alice, bobId)).toBe('bob');
  });
});
