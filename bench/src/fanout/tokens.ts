import * as jose from 'jose';

/**
 * Sync tokens as the auth server issues them (EdDSA over Ed25519, claims
 * {sub, sid, doc, role, iat, exp}), signed here so the bench needs no auth
 * server; the Confab sync server verifies them with the public JWK.
 */
export interface TokenSigner {
  publicJwk: Record<string, unknown>;
  sign(claims: { userId: string; sessionId: string; documentName: string; role: 'member' }): Promise<string>;
}

export async function createTokenSigner(): Promise<TokenSigner> {
  const { publicKey, privateKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const kid = 'bench';
  const publicJwk = { ...(await jose.exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  return {
    publicJwk,
    sign: ({ userId, sessionId, documentName, role }) =>
      new jose.SignJWT({ sid: sessionId, doc: documentName, role })
        .setProtectedHeader({ alg: 'EdDSA', kid })
        .setSubject(userId)
        .setIssuedAt()
        .setExpirationTime('15m')
        .sign(privateKey),
  };
}
