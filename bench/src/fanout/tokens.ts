import * as jose from 'jose';

/**
 * Sync tokens as the auth server issues them (EdDSA over Ed25519, claims
 * {sub, sid, doc, role, iat, exp}), signed here so the bench needs no auth
 * server; the Confab sync server verifies them with the public JWK.
 *
 * They live 15 minutes, the most the sync server accepts, and a scenario of
 * the full pass runs longer than that: like the real provider, the load
 * generators answer the server's token request (sent a minute before expiry)
 * with a fresh token, signed with the private JWK they are given. Without
 * that, the server closes every socket at expiry and later steps deliver nothing.
 */
export interface TokenClaims {
  userId: string;
  sessionId: string;
  documentName: string;
  role: 'member';
}

export interface TokenSigner {
  publicJwk: Record<string, unknown>;
  /** For the load generators, which sign renewals themselves (a throwaway key, made per server). */
  privateJwk: Record<string, unknown>;
  sign(claims: TokenClaims): Promise<string>;
}

const KID = 'bench';

export async function createTokenSigner(): Promise<TokenSigner> {
  const { publicKey, privateKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const publicJwk = { ...(await jose.exportJWK(publicKey)), kid: KID, alg: 'EdDSA', use: 'sig' };
  const privateJwk = { ...(await jose.exportJWK(privateKey)) };
  return { publicJwk, privateJwk, sign: signWith(privateKey) };
}

/** Signs with a private JWK from `createTokenSigner` (in another process). */
export async function importTokenSigner(
  privateJwk: Record<string, unknown>,
): Promise<(claims: TokenClaims) => Promise<string>> {
  return signWith(await jose.importJWK(privateJwk as jose.JWK, 'EdDSA'));
}

/** The longest life the sync server accepts (exp − iat). */
const TOKEN_LIFETIME_S = 15 * 60;

function signWith(privateKey: jose.CryptoKey | Uint8Array): (claims: TokenClaims) => Promise<string> {
  return ({ userId, sessionId, documentName, role }) => {
    // One clock reading for both claims: jose's setIssuedAt() and setExpirationTime('15m') each read
    // the clock, and across a second's boundary they made exp − iat 901 s, which the server refuses.
    const issuedAt = Math.floor(Date.now() / 1000);
    return new jose.SignJWT({ sid: sessionId, doc: documentName, role })
      .setProtectedHeader({ alg: 'EdDSA', kid: KID })
      .setSubject(userId)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + TOKEN_LIFETIME_S)
      .sign(privateKey);
  };
}
