import { clearCookie, HttpError, readJsonBody } from '@confab/platform';
import { newEventId, subjects, uuidv7 } from '@confab/protocol';
import { Hono } from 'hono';
import { z } from 'zod';
import { hashPassword, verifyPassword } from '../adapters/passwords';
import { SESSION_COOKIE } from '../core';
import { displayNameField, emailField, passwordField } from '../domain/identity';
import { newPasswordResetToken, PASSWORD_RESET_POLICY } from '../domain/password-reset';
import { hashSecret } from '../domain/session';
import { MAX_DOCUMENTS_PER_BATCH } from '../domain/sync-grant';
import type { UserRow } from '../ports';
import { type AuthContext, type AuthEnv, clientIp, type RouteDeps, requireSession, sessionCookie } from './context';

const registerBody = z.object({ email: emailField, password: passwordField, displayName: displayNameField });
// Login does not enforce the password length rule: a wrong password is a 401, not a hint about the rule.
const loginBody = z.object({ email: emailField, password: z.string().min(1).max(256) });
const patchMeBody = z.object({ displayName: displayNameField.optional() });
const passwordBody = z.object({ currentPassword: z.string().min(1).max(256), newPassword: passwordField });
const resetRequestBody = z.object({ email: emailField });
const deleteMeBody = z.object({ password: z.string().min(1).max(256) });
const resetConfirmBody = z.object({ token: z.string().min(1).max(128), newPassword: passwordField });
const documentName = z.string().min(1).max(80);
const syncTokenBody = z
  .object({
    document: documentName.optional(),
    documents: z
      .array(documentName)
      .max(MAX_DOCUMENTS_PER_BATCH, `at most ${MAX_DOCUMENTS_PER_BATCH} documents`)
      .optional(),
  })
  .refine((b) => (b.document === undefined) !== (b.documents === undefined), {
    message: 'give either document or documents',
    path: ['document'],
  });

/** 429 `rate_limited` with `Retry-After`: `message` ends with "try again in", the seconds follow. */
function refuseThrottled(retryAfterMs: number, message: string): never {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  throw new HttpError('rate_limited', `${message} ${seconds} s`, { headers: { 'retry-after': String(seconds) } });
}

export function publicUser(user: UserRow) {
  return { id: user.id, email: user.email, displayName: user.displayName, createdAt: user.createdAt };
}

export function authRoutes(deps: RouteDeps): Hono<AuthEnv> {
  const { config, repo, core, metrics, clock } = deps;
  const app = new Hono<AuthEnv>();
  const session = requireSession(core, config.secureCookies);

  /**
   * Signs this browser in as `user`. The cookie it sends, if any, is replaced: when that session is
   * another account's (someone signed in on a shared computer, then a reset link of their own), it
   * ends here, or it would stay valid with no browser able to use it or sign it out. A session of the
   * same account is left alone: its sync socket would be closed as revoked, and the app would take
   * that for the new session ending. A Bearer token is the caller's own to keep.
   */
  async function startSession(c: AuthContext, user: UserRow, status: 200 | 201) {
    const replaced = await core.authenticate({ cookie: c.req.header('cookie') });
    if (replaced.ok && replaced.userId !== user.id) await core.revokeSession(replaced.sessionId, replaced.userId);
    const { token } = await core.createSession(user.id, c.req.header('user-agent') ?? null);
    c.header('set-cookie', sessionCookie(token, config.secureCookies));
    c.header('cache-control', 'no-store');
    return c.json({ user: publicUser(user), token }, status);
  }

  app.post('/register', async (c) => {
    const body = await readJsonBody(c.req.raw, registerBody);
    const throttle = await core.beginRegistration(clientIp(c, config.trustProxy));
    if (!throttle.allowed) refuseThrottled(throttle.retryAfterMs, 'too many sign-ups from this address; try again in');
    const user = { id: uuidv7(clock()), email: body.email, displayName: body.displayName, createdAt: clock() };
    const passwordHash = await hashPassword(body.password);
    if ((await repo.createUser({ ...user, passwordHash })) === 'email_taken') {
      throw new HttpError('email_taken', 'an account with this email already exists', { field: 'email' });
    }
    metrics.registrations.inc();
    return startSession(c, user, 201);
  });

  app.post('/login', async (c) => {
    const body = await readJsonBody(c.req.raw, loginBody);
    const ip = clientIp(c, config.trustProxy);
    const throttle = await core.beginLoginAttempt(body.email, ip);
    if (!throttle.allowed) {
      metrics.logins.inc({ outcome: 'throttled' });
      refuseThrottled(throttle.retryAfterMs, 'too many failed sign-ins; try again in');
    }
    const user = await repo.userByEmail(body.email);
    // Unknown emails still cost one Argon2 verification, so timing does not tell which accounts exist.
    const ok = await verifyPassword(user?.passwordHash ?? deps.dummyPasswordHash, body.password);
    if (!user || !ok) {
      metrics.logins.inc({ outcome: 'failure' });
      throw new HttpError('invalid_credentials', 'wrong email or password');
    }
    await core.loginSucceeded(body.email, ip);
    metrics.logins.inc({ outcome: 'success' });
    return startSession(c, user, 200);
  });

  // Idempotent: without a valid session there is nothing to end, but a stale cookie is still cleared.
  app.post('/logout', async (c) => {
    const auth = await core.authenticate({
      cookie: c.req.header('cookie'),
      authorization: c.req.header('authorization'),
    });
    if (auth.ok) await core.revokeSession(auth.sessionId, auth.userId);
    c.header('set-cookie', clearCookie(SESSION_COOKIE, { secure: config.secureCookies }));
    return c.body(null, 204);
  });

  app.get('/me', session, async (c) => {
    const user = await repo.userById(c.get('caller').userId);
    if (!user) throw new HttpError('unauthenticated', 'the account no longer exists');
    return c.json({ user: publicUser(user) });
  });

  app.patch('/me', session, async (c) => {
    const body = await readJsonBody(c.req.raw, patchMeBody);
    const userId = c.get('caller').userId;
    const user =
      body.displayName === undefined
        ? await repo.userById(userId)
        : await repo.setDisplayName(userId, body.displayName);
    if (!user) throw new HttpError('unauthenticated', 'the account no longer exists');
    return c.json({ user: publicUser(user) });
  });

  /**
   * The signed-in user, once `password` proved to be theirs: checked as a login checks it, drawing on
   * the login throttle's buckets (429 while they are empty, even for the right one; a success gives
   * them back). A wrong one is 422 on `field`, not a 401, which a client would take for a lost session.
   */
  async function confirmPassword(
    c: AuthContext,
    password: string,
    field: string,
    wrong: string,
    onWrong: () => void = () => {},
  ): Promise<UserRow> {
    const user = await repo.userById(c.get('caller').userId);
    const stored = user ? await repo.passwordHashOf(user.id) : null;
    if (!user || stored === null) throw new HttpError('unauthenticated', 'the account no longer exists');
    const ip = clientIp(c, config.trustProxy);
    const throttle = await core.beginLoginAttempt(user.email, ip);
    if (!throttle.allowed) refuseThrottled(throttle.retryAfterMs, 'too many wrong passwords; try again in');
    if (!(await verifyPassword(stored, password))) {
      onWrong();
      throw new HttpError('invalid_field', wrong, { field });
    }
    await core.loginSucceeded(user.email, ip);
    return user;
  }

  /**
   * Extension: deletes the account, given its password (checked as a password change checks it:
   * 422 on `password`, the login throttle's budget). Refused with 409 `conflict` while the user is
   * the only owner of a room that has other members: the room would be left without anyone to
   * manage it. Rooms where the user was alone go with the account; in the others their messages
   * stay, under no name ("Former member"). 204, and the cookie is cleared.
   */
  app.delete('/me', session, async (c) => {
    const body = await readJsonBody(c.req.raw, deleteMeBody);
    const user = await confirmPassword(c, body.password, 'password', 'the password is wrong');
    const result = await repo.deleteUser(user.id);
    if (result.kind === 'not_found') throw new HttpError('unauthenticated', 'the account no longer exists');
    if (result.kind === 'sole_owner') {
      const names = result.rooms.map((r) => r.name).join(', ');
      throw new HttpError(
        'conflict',
        `you are the only owner of ${names}: make someone else an owner there first, or remove its other members`,
      );
    }
    await core.accountDeleted(user.id, { left: result.leftRooms, deleted: result.deletedRooms }, result.sessionIds);
    metrics.accountDeletions.inc();
    deps.logger.info(
      { userId: user.id, leftRooms: result.leftRooms.length, deletedRooms: result.deletedRooms.length },
      'account deleted',
    );
    c.header('set-cookie', clearCookie(SESSION_COOKIE, { secure: config.secureCookies }));
    return c.body(null, 204);
  });

  /**
   * Extension: a new password, given the current one. Every other session of the user ends (their
   * sync connections close, as with a revoke); this one stays, so the device that made the change
   * keeps working. A wrong current password is a 422 on `currentPassword`, not a 401 (which would
   * read as a lost session), and costs a token of the login throttle's buckets, as a failed login does.
   */
  app.post('/password', session, async (c) => {
    const body = await readJsonBody(c.req.raw, passwordBody);
    const caller = c.get('caller');
    const user = await confirmPassword(
      c,
      body.currentPassword,
      'currentPassword',
      'the current password is wrong',
      () => metrics.passwordChanges.inc({ outcome: 'wrong_password' }),
    );
    await repo.setPasswordHash(user.id, await hashPassword(body.newPassword));
    const signedOut = await core.revokeAllSessions(user.id, caller.sessionId);
    metrics.passwordChanges.inc({ outcome: 'changed' });
    return c.json({ signedOutSessions: signedOut });
  });

  /**
   * Extension: a forgotten password. Always 202, whether the email has an account or not, and at
   * once: the link is made and its event published after the answer, so neither the answer nor its
   * timing tells which addresses have accounts. Throttled per address (429) and per account (three
   * links, then one every 20 minutes; over it nothing is sent and the answer is the same).
   */
  app.post('/password-reset', async (c) => {
    const body = await readJsonBody(c.req.raw, resetRequestBody);
    const throttle = await core.beginPasswordResetRequest(clientIp(c, config.trustProxy));
    if (!throttle.allowed) refuseThrottled(throttle.retryAfterMs, 'too many requests from this address; try again in');
    void sendResetLink(body.email).catch((err) => deps.logger.error({ err }, 'could not make a password reset link'));
    return c.json({}, 202);
  });

  async function sendResetLink(email: string): Promise<void> {
    const user = await repo.userByEmail(email);
    if (!user) return;
    if (!(await core.mayEmailResetLink(user.id))) {
      metrics.passwordResets.inc({ outcome: 'limited' });
      return;
    }
    const now = clock();
    const { token, tokenHash } = newPasswordResetToken();
    const expiresAt = now + PASSWORD_RESET_POLICY.lifetimeMs;
    await repo.createPasswordReset({ tokenHash, userId: user.id, createdAt: now, expiresAt });
    await core.publish(subjects.passwordResetRequested, {
      id: newEventId(now),
      userId: user.id,
      email: user.email,
      displayName: user.displayName,
      token,
      expiresAt,
    });
    metrics.passwordResets.inc({ outcome: 'requested' });
  }

  /**
   * Extension: sets the new password with the emailed token. The link works once (every other link
   * of the account ends with it) and for PASSWORD_RESET_POLICY.lifetimeMs; every session of the
   * account ends (whoever was signed in with the old password is out), and this browser is signed
   * in with a new one. A browser still signed in to the same account keeps its session instead:
   * ending it would close its own sync socket, and the app would sign the new session out with it.
   */
  app.post('/password-reset/confirm', async (c) => {
    const body = await readJsonBody(c.req.raw, resetConfirmBody);
    const userId = await repo.takePasswordReset(hashSecret(body.token), clock());
    const user = userId ? await repo.userById(userId) : null;
    if (!user) {
      metrics.passwordResets.inc({ outcome: 'invalid_link' });
      throw new HttpError('invalid_field', 'this link is not valid any more: it was used, or it expired', {
        field: 'token',
      });
    }
    await repo.setPasswordHash(user.id, await hashPassword(body.newPassword));
    const current = await core.authenticate({
      cookie: c.req.header('cookie'),
      authorization: c.req.header('authorization'),
    });
    const kept = current.ok && current.userId === user.id ? current : null;
    await core.revokeAllSessions(user.id, kept?.sessionId);
    // Whatever wrong guesses locked the account's sign-in, the owner of its inbox may sign in now.
    await core.loginSucceeded(user.email, clientIp(c, config.trustProxy));
    metrics.passwordResets.inc({ outcome: 'reset' });
    if (!kept) return startSession(c, user, 200);
    c.header('cache-control', 'no-store');
    return c.json({ user: publicUser(user), token: kept.token }, 200);
  });

  app.get('/sessions', session, async (c) => {
    const caller = c.get('caller');
    const sessions = await repo.sessionsOf(caller.userId, clock());
    return c.json({
      sessions: sessions.map((s) => ({
        id: s.id,
        createdAt: s.createdAt,
        lastSeenAt: s.lastSeenAt,
        userAgent: s.userAgent,
        current: s.id === caller.sessionId,
      })),
    });
  });

  // Extension: sign out everywhere (every device, this one included), e.g. after a lost phone.
  app.delete('/sessions', session, async (c) => {
    const caller = c.get('caller');
    await core.revokeAllSessions(caller.userId);
    if (caller.viaCookie) c.header('set-cookie', clearCookie(SESSION_COOKIE, { secure: config.secureCookies }));
    return c.body(null, 204);
  });

  app.delete('/sessions/:id', session, async (c) => {
    const caller = c.get('caller');
    const target = await repo.sessionById(c.req.param('id'));
    // Someone else's session is "not found": its existence is none of the caller's business.
    if (!target || target.userId !== caller.userId) throw new HttpError('not_found', 'no such session');
    await core.revokeSession(target.id, caller.userId);
    if (target.id === caller.sessionId && caller.viaCookie) {
      c.header('set-cookie', clearCookie(SESSION_COOKIE, { secure: config.secureCookies }));
    }
    return c.body(null, 204);
  });

  app.post('/sync-token', session, async (c) => {
    const body = await readJsonBody(c.req.raw, syncTokenBody);
    const caller = c.get('caller');
    c.header('cache-control', 'no-store');
    if (body.document !== undefined) {
      const issued = (await core.issueSyncTokens(caller.userId, caller.sessionId, [body.document])).get(body.document);
      if (!issued) throw new HttpError('forbidden', `you may not open ${body.document}`);
      return c.json(issued);
    }
    const issued = await core.issueSyncTokens(caller.userId, caller.sessionId, body.documents ?? []);
    return c.json({ tokens: Object.fromEntries(issued) });
  });

  return app;
}
