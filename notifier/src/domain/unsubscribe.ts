import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Unsubscribe links work without signing in, so the token itself proves who
 * it is for: the user id and an HMAC over it with the notifier's secret.
 * The token never expires (an old email's link must still work) and only
 * ever turns email off, so a leaked one can do no more than that.
 */
const PURPOSE = 'confab-unsubscribe-email:v1:';

function mac(secret: string, userId: string): string {
  return createHmac('sha256', secret)
    .update(PURPOSE + userId)
    .digest('base64url');
}

export function unsubscribeToken(secret: string, userId: string): string {
  return `${Buffer.from(userId).toString('base64url')}.${mac(secret, userId)}`;
}

/** The user id the token was made for, or null when it is forged or malformed. */
export function verifyUnsubscribeToken(secret: string, token: string): string | null {
  const [encoded, signature] = token.split('.');
  if (!encoded || !signature || token.split('.').length !== 2) return null;
  const userId = Buffer.from(encoded, 'base64url').toString();
  const expected = Buffer.from(mac(secret, userId));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  return userId;
}
