import { generateKeyPairSync } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, registerUser, startTestAuthServer, type TestAuthServer } from '../test-support/harness';

let server: TestAuthServer;
let api: ReturnType<typeof apiClient>;
let jwks: ReturnType<typeof createRemoteJWKSet>;

beforeAll(async () => {
  server = await startTestAuthServer();
  api = apiClient(server.url);
  jwks = createRemoteJWKSet(new URL(`${server.url}/api/auth/jwks`));
});
afterAll(() => server.stop());

/** What the sync server does: verify against the JWKS and insist on the document it is opening. */
async function verifyFor(token: string, document: string, currentDate?: Date) {
  const { payload } = await jwtVerify(token, jwks, { algorithms: ['EdDSA'], ...(currentDate ? { currentDate } : {}) });
  if (payload.doc !== document) throw new Error('token is for another document');
  return payload;
}

async function roomOf(token: string) {
  const res = await api('POST', '/api/rooms', { token, body: { name: 'Tokens' } });
  return res.body.room.id as string;
}

describe('sync tokens', () => {
  it('publishes an Ed25519 JWKS with a kid', async () => {
    const res = await api('GET', '/api/auth/jwks');
    expect(res.status).toBe(200);
    expect(res.body.keys).toEqual([
      expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: expect.any(String) }),
    ]);
    expect(res.body.keys[0]).not.toHaveProperty('d');
  });

  it('issues a token for the user document that verifies against the JWKS with sub, sid, doc, role and a 15-minute exp', async () => {
    const user = await registerUser(api);
    const doc = `user:${user.userId}`;
    const res = await api('POST', '/api/auth/sync-token', { token: user.token, body: { document: doc } });
    expect(res.status).toBe(200);
    const payload = await verifyFor(res.body.token, doc, new Date(server.clock()));
    const sessions = await api('GET', '/api/auth/sessions', { token: user.token });
    expect(payload).toMatchObject({ sub: user.userId, sid: sessions.body.sessions[0].id, doc, role: 'owner' });
    expect(payload.exp! - payload.iat!).toBe(15 * 60);
    expect(res.body.expiresAt).toBe(payload.exp! * 1000);
    expect(decodeProtectedHeader(res.body.token)).toMatchObject({ alg: 'EdDSA', kid: expect.any(String) });
  });

  it("carries the member's role for a room and refuses (403) a room they are not in and another user's document", async () => {
    const owner = await registerUser(api);
    const stranger = await registerUser(api);
    const roomId = await roomOf(owner.token);
    const mine = await api('POST', '/api/auth/sync-token', {
      token: owner.token,
      body: { document: `room:${roomId}` },
    });
    expect((await verifyFor(mine.body.token, `room:${roomId}`, new Date(server.clock()))).role).toBe('owner');
    for (const document of [`room:${roomId}`, `user:${owner.userId}`, 'nonsense', 'room:bad id']) {
      const res = await api('POST', '/api/auth/sync-token', { token: stranger.token, body: { document } });
      expect(res.status, document).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    }
  });

  it('issues a batch, leaving out the documents the user may not open', async () => {
    const alice = await registerUser(api);
    const bob = await registerUser(api);
    const a1 = await roomOf(alice.token);
    const a2 = await roomOf(alice.token);
    const b1 = await roomOf(bob.token);
    const documents = [`room:${a1}`, `room:${a2}`, `room:${b1}`, `user:${alice.userId}`, `user:${bob.userId}`];
    const res = await api('POST', '/api/auth/sync-token', { token: alice.token, body: { documents } });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.tokens).sort()).toEqual([`room:${a1}`, `room:${a2}`, `user:${alice.userId}`].sort());
    for (const [doc, issued] of Object.entries(res.body.tokens as Record<string, { token: string }>)) {
      expect((await verifyFor(issued.token, doc, new Date(server.clock()))).doc).toBe(doc);
    }
  });

  it('refuses a batch over 100 documents (422) and a body with neither document nor documents (422)', async () => {
    const user = await registerUser(api);
    const documents = Array.from({ length: 101 }, (_, i) => `room:r${i}`);
    const tooMany = await api('POST', '/api/auth/sync-token', { token: user.token, body: { documents } });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.error.field).toBe('documents');
    const neither = await api('POST', '/api/auth/sync-token', { token: user.token, body: {} });
    expect(neither.status).toBe(422);
    expect((await api('POST', '/api/auth/sync-token', { body: { document: 'user:x' } })).status).toBe(401);
  });

  it('a verifier rejects a token for another document, a forged one and an expired one', async () => {
    const user = await registerUser(api);
    const roomId = await roomOf(user.token);
    const res = await api('POST', '/api/auth/sync-token', { token: user.token, body: { document: `room:${roomId}` } });
    await expect(verifyFor(res.body.token, `user:${user.userId}`, new Date(server.clock()))).rejects.toThrow(
      /another document/,
    );

    // Forged: same claims and kid, signed by a key the server never published.
    const { privateKey } = generateKeyPairSync('ed25519');
    const kid = decodeProtectedHeader(res.body.token).kid as string;
    const forged = await new SignJWT({ sid: 's', doc: `room:${roomId}`, role: 'owner' })
      .setProtectedHeader({ alg: 'EdDSA', kid })
      .setSubject(user.userId)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
    await expect(verifyFor(forged, `room:${roomId}`)).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });

    // Expired: issued with the server's clock 16 minutes ago, verified now.
    const now = server.clock();
    server.clock.set(now - 16 * 60 * 1000);
    const old = await api('POST', '/api/auth/sync-token', { token: user.token, body: { document: `room:${roomId}` } });
    server.clock.set(now);
    expect(old.status).toBe(200);
    await expect(verifyFor(old.body.token, `room:${roomId}`, new Date(now))).rejects.toMatchObject({
      code: 'ERR_JWT_EXPIRED',
    });
  });

  it('keeps the signing key across restarts on the same database', async () => {
    const first = await api('GET', '/api/auth/jwks');
    const again = await startTestAuthServer({ database: server.database });
    try {
      const second = await apiClient(again.url)('GET', '/api/auth/jwks');
      expect(second.body).toEqual(first.body);
      expect((await again.handle.jwks()).keys[0]?.kid).toBe(first.body.keys[0].kid);
    } finally {
      await again.stop();
    }
  });
});
