import { CLOSE, isRole, parseDocumentName } from '@confab/protocol';
import type { Extension, onAuthenticatePayload } from '@hocuspocus/server';
import { type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { Logger } from 'pino';
import type { RevocationList } from '../storage/revocations';
import { CloseError, type SyncContext } from './context';

/** CONTRACT: a sync token lives at most 15 minutes. Longer ones are refused, which also bounds the revocation list. */
export const MAX_TOKEN_LIFETIME_MS = 15 * 60_000;
/** Clock skew tolerated between the auth server and this one. */
const CLOCK_TOLERANCE_S = 5;

export type TokenVerdict =
  | { ok: true; context: SyncContext; readOnly: boolean; issuedAtMs: number }
  | { ok: false; close: typeof CLOSE.unauthorized | typeof CLOSE.forbidden; detail: string };

/**
 * The claims rules, apart from signature checking: a pure function of the
 * verified payload, the document asked for and the time.
 */
export function checkClaims(payload: JWTPayload, documentName: string): TokenVerdict {
  const { sub, sid, doc, role, iat, exp } = payload as JWTPayload & { sid?: unknown; doc?: unknown; role?: unknown };
  if (typeof sub !== 'string' || typeof sid !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') {
    return { ok: false, close: CLOSE.unauthorized, detail: 'token lacks sub, sid, iat or exp' };
  }
  if (!isRole(role)) return { ok: false, close: CLOSE.unauthorized, detail: 'token has no valid role' };
  if ((exp - iat) * 1000 > MAX_TOKEN_LIFETIME_MS) {
    return { ok: false, close: CLOSE.unauthorized, detail: 'token lives longer than 15 minutes' };
  }
  if (doc !== documentName) return { ok: false, close: CLOSE.forbidden, detail: 'token is for another document' };
  const parsed = parseDocumentName(documentName);
  if (!parsed) return { ok: false, close: CLOSE.forbidden, detail: 'not a document name' };
  if (parsed.kind === 'user' && parsed.userId !== sub) {
    return { ok: false, close: CLOSE.forbidden, detail: "another user's private document" };
  }
  const effectiveRole = parsed.kind === 'user' ? 'owner' : role;
  return {
    ok: true,
    readOnly: effectiveRole === 'reader',
    issuedAtMs: iat * 1000,
    context: { userId: sub, sessionId: sid, document: parsed, role: effectiveRole, tokenExpiresAtMs: exp * 1000 },
  };
}

export interface AuthExtensionOptions {
  jwks: JWTVerifyGetKey;
  revocations: RevocationList;
  clock: () => number;
  logger: Logger;
}

/**
 * Verifies the sync token (EdDSA JWT) against the auth server's JWKS, checks
 * it grants this document and was not revoked, and marks readers read-only.
 * Refusals reach the provider as `authenticationFailed` with the CLOSE reason.
 */
export class AuthExtension implements Extension {
  readonly extensionName = 'confab-auth';
  /** Before everything else: nothing may load a document for an unauthenticated connection. */
  readonly priority = 900;

  constructor(private readonly options: AuthExtensionOptions) {}

  async onAuthenticate({ token, documentName, connectionConfig }: onAuthenticatePayload): Promise<SyncContext> {
    const { jwks, revocations, clock, logger } = this.options;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        algorithms: ['EdDSA'],
        currentDate: new Date(clock()),
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (error) {
      logger.info({ documentName, err: (error as Error).message }, 'sync token refused');
      throw new CloseError(CLOSE.unauthorized, (error as Error).message);
    }
    const verdict = checkClaims(payload, documentName);
    if (!verdict.ok) {
      logger.info({ documentName, detail: verdict.detail }, 'sync token refused');
      throw new CloseError(verdict.close, verdict.detail);
    }
    const { context } = verdict;
    const revoked = await revocations.check({
      sessionId: context.sessionId,
      userId: context.userId,
      roomId: context.document.kind === 'room' ? context.document.roomId : null,
      issuedAtMs: verdict.issuedAtMs,
    });
    if (revoked === 'session') throw new CloseError(CLOSE.sessionRevoked);
    // The membership changed after this token was issued: the client fetches a new one, which reflects the change.
    if (revoked === 'membership')
      throw new CloseError(CLOSE.forbidden, 'membership changed since the token was issued');
    connectionConfig.readOnly = verdict.readOnly;
    return context;
  }
}
