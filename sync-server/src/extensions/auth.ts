import { CLOSE, isRole, parseDocumentName } from '@confab/protocol';
import type {
  Connection,
  connectedPayload,
  Extension,
  onAuthenticatePayload,
  onTokenSyncPayload,
} from '@hocuspocus/server';
import { type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { Logger } from 'pino';
import type { RevocationList } from '../storage/revocations';
import { CloseError, isSyncContext, type SyncContext } from './context';

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
  /** Ask the client for a fresh token this long before the current one expires. Default 60 s. */
  renewBeforeMs?: number;
  /** A connection whose token expired and was not renewed is closed this long after `exp`. Default 30 s. */
  expiryGraceMs?: number;
}

interface TokenTimers {
  renew?: NodeJS.Timeout;
  expire?: NodeJS.Timeout;
  /** The `exp` a renewal was last requested for: one request per token. */
  requestedFor?: number;
}

/**
 * Verifies the sync token (EdDSA JWT) against the auth server's JWKS, checks
 * it grants this document and was not revoked, and marks readers read-only.
 * Refusals reach the provider as `authenticationFailed` with the CLOSE reason.
 *
 * Tokens live 15 minutes, connections longer: shortly before a connection's
 * token expires the server asks the provider for a new one (Hocuspocus token
 * sync; the provider calls its `token` function again), verifies it like the
 * first and carries on with its role and expiry. A connection whose token
 * expires without renewal is closed with `unauthorized`, which the client
 * answers by fetching a token and reconnecting.
 */
export class AuthExtension implements Extension {
  readonly extensionName = 'confab-auth';
  /** Before everything else: nothing may load a document for an unauthenticated connection. */
  readonly priority = 900;
  private readonly timers = new WeakMap<Connection, TokenTimers>();

  constructor(private readonly options: AuthExtensionOptions) {}

  /** Everything about a token but where it is used: signature, claims, revocation list. */
  private async verify(token: string, documentName: string): Promise<{ context: SyncContext; readOnly: boolean }> {
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
      role: context.role,
    });
    if (revoked?.kind === 'session') throw new CloseError(CLOSE.sessionRevoked);
    // Removed from the room after this token was issued: a new token would be refused too.
    if (revoked?.kind === 'membership') {
      throw new CloseError(CLOSE.forbidden, 'membership changed since the token was issued');
    }
    // Demoted or promoted after this token was issued: serve the role held now rather than refuse. The outcome
    // is the same as a fresh token's, with no client round trip (a retry by detach + attach on the same socket,
    // as client/lib/sync-client.ts does, is closed again by Hocuspocus replaying the detach's Close: docs/sync.md).
    if (revoked?.kind === 'role') {
      logger.info({ documentName, userId: context.userId, role: revoked.role }, 'token predates a role change');
      return { context: { ...context, role: revoked.role }, readOnly: revoked.role === 'reader' };
    }
    return { context, readOnly: verdict.readOnly };
  }

  async onAuthenticate({ token, documentName, connectionConfig }: onAuthenticatePayload): Promise<SyncContext> {
    const { context, readOnly } = await this.verify(token, documentName);
    connectionConfig.readOnly = readOnly;
    return context;
  }

  async connected({ connection }: connectedPayload): Promise<void> {
    if (!isSyncContext(connection.context)) return;
    this.schedule(connection);
    connection.onClose(() => this.clear(connection));
  }

  async onTokenSync({ token, documentName, connection }: onTokenSyncPayload): Promise<void> {
    const current = connection.context;
    if (!isSyncContext(current)) return;
    // Hocuspocus closes the connection with the code and reason of what is thrown here.
    const { context, readOnly } = await this.verify(token, documentName);
    if (context.userId !== current.userId || context.sessionId !== current.sessionId) {
      throw new CloseError(CLOSE.forbidden, 'a renewed token must belong to the same session');
    }
    // The context object is shared with every hook (the guard reads the role from it).
    Object.assign(current as SyncContext, { role: context.role, tokenExpiresAtMs: context.tokenExpiresAtMs });
    connection.readOnly = readOnly;
    this.schedule(connection);
  }

  private clear(connection: Connection): void {
    const timers = this.timers.get(connection);
    if (timers?.renew) clearTimeout(timers.renew);
    if (timers?.expire) clearTimeout(timers.expire);
  }

  private schedule(connection: Connection): void {
    const { clock, logger } = this.options;
    const renewBeforeMs = this.options.renewBeforeMs ?? 60_000;
    const graceMs = this.options.expiryGraceMs ?? 30_000;
    const context = connection.context as SyncContext;
    const expiresAt = context.tokenExpiresAtMs;
    const timers = this.timers.get(connection) ?? {};
    this.clear(connection);
    timers.renew = undefined;
    if (timers.requestedFor !== expiresAt) {
      timers.renew = setTimeout(
        () => {
          timers.requestedFor = expiresAt;
          connection.requestToken();
        },
        Math.max(0, expiresAt - renewBeforeMs - clock()),
      );
      timers.renew.unref();
    }
    timers.expire = setTimeout(
      () => {
        if ((connection.context as SyncContext).tokenExpiresAtMs > clock()) return;
        logger.info({ documentName: connection.document.name, userId: context.userId }, 'sync token expired');
        connection.close(CLOSE.unauthorized);
      },
      Math.max(0, expiresAt + graceMs - clock()),
    );
    timers.expire.unref();
    this.timers.set(connection, timers);
  }
}
