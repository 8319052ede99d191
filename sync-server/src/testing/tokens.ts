import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, exportJWK, generateKeyPair, type JWTVerifyGetKey, SignJWT } from 'jose';

export interface TokenClaims {
  sub: string;
  sid?: string;
  doc: string;
  role?: 'owner' | 'member' | 'reader';
  /** Seconds since the epoch; default now. */
  iat?: number;
  /** Seconds since the epoch; default iat + 15 min. */
  exp?: number;
}

/** An Ed25519 key pair that signs sync tokens the way the auth server does, and the JWKS resolver to verify them. */
export async function createTokenIssuer(): Promise<{
  jwks: JWTVerifyGetKey;
  /** The JSON Web Key Set, as `GET /api/auth/jwks` serves it. */
  publicJwks: { keys: Array<Record<string, unknown>> };
  sign: (claims: TokenClaims) => Promise<string>;
}> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  const jwks = createLocalJWKSet({ keys: [jwk] });
  const sign = async (claims: TokenClaims) => {
    const iat = claims.iat ?? Math.floor(Date.now() / 1000);
    return new SignJWT({ sid: claims.sid ?? `sess_${claims.sub}`, doc: claims.doc, role: claims.role ?? 'member' })
      .setProtectedHeader({ alg: 'EdDSA', kid })
      .setSubject(claims.sub)
      .setIssuedAt(iat)
      .setExpirationTime(claims.exp ?? iat + 15 * 60)
      .sign(privateKey);
  };
  return { jwks, publicJwks: { keys: [jwk] }, sign };
}
