import type { NotificationKind } from './decide';

/** Longest notification body we keep: enough to recognise the message, short enough for a lock screen. */
export const MAX_BODY_CHARS = 280;
/** Push services accept 4 KiB of encrypted payload; the plaintext stays under 3 KB to leave room for padding. */
export const MAX_PUSH_PAYLOAD_BYTES = 3000;

export function truncate(text: string, maxChars: number): string {
  if (maxChars <= 0) return '';
  const chars = Array.from(text);
  return chars.length <= maxChars ? text : `${chars.slice(0, maxChars - 1).join('')}…`;
}

export function notificationTitle(kind: NotificationKind, authorName: string, roomName: string): string {
  switch (kind) {
    case 'mention':
      return `${authorName} mentioned you in ${roomName}`;
    case 'reply':
      return `${authorName} replied to you in ${roomName}`;
    case 'message':
      return `${authorName} in ${roomName}`;
  }
}

export function roomUrl(publicUrl: string, roomId: string): string {
  return `${publicUrl}/chat/${encodeURIComponent(roomId)}`;
}

export interface PushPayload {
  readonly title: string;
  readonly body: string;
  readonly roomId: string;
  readonly messageId: string;
  readonly url: string;
}

/** The JSON a service worker receives; the body is shortened until it fits in MAX_PUSH_PAYLOAD_BYTES. */
export function pushPayload(payload: PushPayload): string {
  let body = payload.body;
  let title = truncate(payload.title, 200);
  for (;;) {
    const json = JSON.stringify({ ...payload, title, body });
    // Ids and the URL are bounded (64-character ids, the configured origin), so this ends with
    // them alone at the latest; the guard keeps a misconfigured giant PUBLIC_URL from looping.
    if (Buffer.byteLength(json) < MAX_PUSH_PAYLOAD_BYTES || (body === '' && title === '')) return json;
    if (body.length > 0) body = truncate(body, Math.floor(Array.from(body).length / 2));
    else title = truncate(title, Math.floor(Array.from(title).length / 2));
  }
}

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

export interface DigestItem {
  readonly roomId: string;
  readonly roomName: string;
  readonly title: string;
  readonly body: string;
  readonly createdAt: number;
}

export interface Digest {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/**
 * One email for everything a user missed, grouped by room (like Zulip's
 * missed-message emails). Every user-written string is escaped in the HTML.
 */
/** Messages shown in one email at most; the rest are counted, the app has them all. */
export const MAX_DIGEST_ITEMS = 50;

export function renderDigest(items: readonly DigestItem[], publicUrl: string, unsubscribeUrl: string): Digest {
  const rooms = new Map<string, DigestItem[]>();
  const sorted = [...items].sort((a, b) => a.createdAt - b.createdAt);
  // The newest ones are shown: the oldest are the likeliest to be stale.
  const shown = sorted.slice(-MAX_DIGEST_ITEMS);
  const hidden = sorted.length - shown.length;
  for (const item of shown) {
    const list = rooms.get(item.roomId) ?? [];
    list.push(item);
    rooms.set(item.roomId, list);
  }
  const roomNames = [...rooms.values()].map((list) => list[0]?.roomName ?? '');
  const subject =
    items.length === 1
      ? (items[0]?.title ?? 'New message')
      : `${items.length} new messages in ${roomNames.slice(0, 3).join(', ')}${roomNames.length > 3 ? ', …' : ''}`;

  const textParts: string[] = [];
  const htmlParts: string[] = [];
  for (const [roomId, list] of rooms) {
    const url = roomUrl(publicUrl, roomId);
    const name = list[0]?.roomName ?? roomId;
    textParts.push(`${name} (${url})`);
    htmlParts.push(`<h2><a href="${escapeHtml(url)}">${escapeHtml(name)}</a></h2><ul>`);
    for (const item of list) {
      textParts.push(`  ${item.title}:`, `    ${item.body}`);
      htmlParts.push(`<li><strong>${escapeHtml(item.title)}</strong><br>${escapeHtml(item.body)}</li>`);
    }
    htmlParts.push('</ul>');
    textParts.push('');
  }
  if (hidden > 0) {
    textParts.push(`…and ${hidden} earlier messages: ${publicUrl}/chat`, '');
    htmlParts.push(
      `<p>…and ${hidden} earlier messages in <a href="${escapeHtml(`${publicUrl}/chat`)}">Confab</a>.</p>`,
    );
  }
  textParts.push(`Stop these emails: ${unsubscribeUrl}`);
  htmlParts.push(`<p><a href="${escapeHtml(unsubscribeUrl)}">Stop these emails</a></p>`);
  return {
    subject,
    text: textParts.join('\n'),
    html: `<!doctype html><html><body>${htmlParts.join('')}</body></html>`,
  };
}

/** The link of a forgotten-password email; the web app's /reset-password page reads the token. */
export function passwordResetUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/reset-password?token=${encodeURIComponent(token)}`;
}

/** The forgotten-password email: the link, how long it works, and what to do if it was not you. */
export function renderPasswordReset(
  displayName: string,
  url: string,
  minutesValid: number,
): { subject: string; text: string; html: string } {
  const subject = 'Set a new Confab password';
  const lines = [
    `Hello ${displayName},`,
    '',
    'Someone, probably you, asked to set a new password for your Confab account. Open this link to choose one:',
    '',
    url,
    '',
    `The link works once, for ${minutesValid} minutes. Setting a new password signs out every device signed in to your account.`,
    '',
    'If you did not ask for this, ignore this email: your password stays as it is.',
  ];
  const html = [
    `<p>Hello ${escapeHtml(displayName)},</p>`,
    '<p>Someone, probably you, asked to set a new password for your Confab account.</p>',
    `<p><a href="${escapeHtml(url)}">Choose a new password</a></p>`,
    `<p>The link works once, for ${minutesValid} minutes. Setting a new password signs out every device signed in to your account.</p>`,
    '<p>If you did not ask for this, ignore this email: your password stays as it is.</p>',
  ].join('\n');
  return { subject, text: lines.join('\n'), html };
}
