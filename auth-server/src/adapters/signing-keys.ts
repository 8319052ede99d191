import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { encodeBase32LowerCaseNoPadding } from '@oslojs/encoding';
import { type JWK, SignJWT } from 'jose';
import type { AuthRepository } from '../ports';

/**
 * Ed25519 signing keys for sync tokens. The first start generates one and
 * stores it; every key not retired is published in the JWKS, and the newest
 * signs, so rotating is "add a key, wait 15 minutes, retire the old one".
 * The private key is imported once into a KeyObject: signing is on every
 * reconnect's path and must not parse a JWK per token.
 */
export interface SigningKeys {
  readonly kid: string;
  sign(
    claims: { sub: string; sid: string; doc: string; role: string },
    issuedAtMs: number,
    ttlMs: number,
  ): Promise<string>;
  jwks(): { keys: JWK[] };
}

export async function loadSigningKeys(repo: AuthRepository, nowMs: number): Promise<SigningKeys> {
  let rows = await repo.keys();
  if (rows.length === 0) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const kid = encodeBase32LowerCaseNoPadding(crypto.getRandomValues(new Uint8Array(10)));
    await repo.addKey({
      kid,
      privateJwk: JSON.stringify(privateKey.export({ format: 'jwk' })),
      publicJwk: JSON.stringify(publicKey.export({ format: 'jwk' })),
      createdAt: nowMs,
    });
    // Another process may have raced us here; both keys are published, so either may sign.
    rows = await repo.keys();
  }
  const newest = rows.at(-1);
  if (!newest) throw new Error('no signing key after generating one');
  const privateKey: KeyObject = createPrivateKey({ key: JSON.parse(newest.privateJwk), format: 'jwk' });
  const publicKeys: JWK[] = rows.map((r) => ({
    ...(JSON.parse(r.publicJwk) as JWK),
    kid: r.kid,
    alg: 'EdDSA',
    use: 'sig',
  }));
  const header = { alg: 'EdDSA', kid: newest.kid, typ: 'JWT' };
  return {
    kid: newest.kid,
    sign: (claims, issuedAtMs, ttlMs) =>
      new SignJWT({ sid: claims.sid, doc: claims.doc, role: claims.role })
        .setProtectedHeader(header)
        .setSubject(claims.sub)
        .setIssuedAt(Math.floor(issuedAtMs / 1000))
        .setExpirationTime(Math.floor((issuedAtMs + ttlMs) / 1000))
        .sign(privateKey),
    jwks: () => ({ keys: publicKeys }),
  };
}
