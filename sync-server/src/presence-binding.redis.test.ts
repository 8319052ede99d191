import { needService, SERVICES, uniqueSuffix, waitFor } from '@confab/platform/testing';
import { MessageType } from '@hocuspocus/server';
import { Redis } from 'ioredis';
import * as encoding from 'lib0/encoding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness';
import * as Y from 'yjs';
import {
  openTestDatabase,
  startTestServer,
  type TestClient,
  type TestDatabase,
  type TestServer,
} from './testing/harness';
import { MemoryBus } from './testing/memory-bus';
import { createTokenIssuer } from './testing/tokens';

/**
 * With several instances, awareness entries reach the other instances through
 * Redis and are applied there unchecked; so the instance a hostile client is
 * connected to must not let it claim a client id whose tab is connected to
 * another instance (docs/security.md, "Known gaps" 2).
 */
const redisUp = await needService('redis');
const HUGE_CLOCK = 2 ** 40;
type PresenceState = { user: { id: string; displayName: string }; typing?: boolean };

function spoofFrame(documentName: string, clientId: number, state: PresenceState): Uint8Array {
  const scratch = new Awareness(new Y.Doc());
  scratch.states.set(clientId, state);
  scratch.meta.set(clientId, { clock: HUGE_CLOCK, lastUpdated: 0 });
  const update = encodeAwarenessUpdate(scratch, [clientId]);
  scratch.destroy();
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, documentName);
  encoding.writeVarUint(encoder, MessageType.Awareness);
  encoding.writeVarUint8Array(encoder, update);
  return encoding.toUint8Array(encoder);
}

const stateOf = (client: TestClient, clientId: number) =>
  client.provider.awareness?.getStates().get(clientId) as PresenceState | undefined;

describe.skipIf(!redisUp)('presence binding across two instances behind Redis', () => {
  const prefix = `confab-test-${uniqueSuffix()}`;
  let db: TestDatabase;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    db = await openTestDatabase('sqlite');
    const issuer = await createTokenIssuer();
    const bus = new MemoryBus();
    const env = { REDIS_URL: SERVICES.redis.url, REDIS_PREFIX: prefix };
    // The real guard on both (guard: undefined picks the server's default).
    a = await startTestServer({ database: db, bus, issuer, guard: undefined, env: { ...env, SYNC_INSTANCE_ID: 'a' } });
    b = await startTestServer({ database: db, bus, issuer, guard: undefined, env: { ...env, SYNC_INSTANCE_ID: 'b' } });
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await db?.close();
    const redis = new Redis(SERVICES.redis.url);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('does not let a client on one instance take over the client id of a tab connected to the other', async () => {
    const name = `room:r${uniqueSuffix()}`;
    const victim = await b.connect({ name, user: 'alice' });
    const observer = await b.connect({ name, user: 'olga' });
    const attacker = await a.connect({ name, user: 'mallory' });
    victim.provider.setAwarenessField('user', { id: 'alice', displayName: 'alice' });
    attacker.provider.setAwarenessField('user', { id: 'mallory', displayName: 'mallory' });
    const victimId = victim.doc.clientID;
    await waitFor(() => stateOf(attacker, victimId)?.user.id === 'alice', { message: 'alice to reach instance a' });

    attacker.provider.configuration.websocketProvider.send(
      spoofFrame(name, victimId, { user: { id: 'mallory', displayName: 'mallory' } }),
    );
    // A truthful change behind it, through the same socket and Redis, as a fence.
    attacker.provider.setAwarenessField('typing', true);
    await waitFor(() => stateOf(observer, attacker.doc.clientID)?.typing === true, { message: 'the fence' });
    expect(stateOf(observer, victimId)?.user.id).toBe('alice');

    victim.provider.setAwarenessField('typing', true);
    await waitFor(() => stateOf(attacker, victimId)?.typing === true, { message: 'alice typing to reach instance a' });
    expect(stateOf(observer, victimId)).toEqual({ user: { id: 'alice', displayName: 'alice' }, typing: true });
  });
});
