import { DEFAULT_PREFERENCES, levelFor, type Preferences } from './preferences';
import { quietEndsAt } from './quiet-hours';

/** Why a user is told about a message. */
export type NotificationKind = 'message' | 'mention' | 'reply';

export interface NewMessageFacts {
  readonly roomId: string;
  readonly authorId: string;
  readonly mentions: readonly string[];
  /** Author of the message this one replies to, when it is known (the notifier's message projection). */
  readonly replyToAuthorId: string | null;
  /** Users connected to the room right now: they see the message, so no push or email. */
  readonly onlineUserIds: readonly string[];
}

export interface Recipient {
  readonly userId: string;
  /** False when the directory has no email for the user. */
  readonly hasEmail: boolean;
}

export interface Decision {
  readonly userId: string;
  readonly kind: NotificationKind;
  /** When to send the push, or null for none. Later than now during quiet hours. */
  readonly pushAtMs: number | null;
  /** When the delayed email becomes due, or null for none. */
  readonly emailAtMs: number | null;
}

export function kindFor(userId: string, message: NewMessageFacts): NotificationKind {
  if (message.mentions.includes(userId)) return 'mention';
  if (message.replyToAuthorId === userId) return 'reply';
  return 'message';
}

/**
 * Whether a level lets a kind through. Under `mentions`, a reply to your own
 * message counts as a mention: it is addressed to you as much as an @mention
 * is (Slack and Zulip treat replies in your threads the same way).
 */
export function levelAllows(level: Preferences['default'], kind: NotificationKind): boolean {
  if (level === 'none') return false;
  if (level === 'mentions') return kind !== 'message';
  return true;
}

/**
 * Who is told about a new message, how and when. Only members are
 * considered (the caller passes the room's members), never the author.
 * Every decision is stored in-app; push and email are on top of that.
 */
export function decideForMessage(
  message: NewMessageFacts,
  members: readonly Recipient[],
  preferencesOf: (userId: string) => Preferences | undefined,
  nowMs: number,
): Decision[] {
  const online = new Set(message.onlineUserIds);
  const decisions: Decision[] = [];
  for (const member of members) {
    if (member.userId === message.authorId) continue;
    const preferences = preferencesOf(member.userId) ?? DEFAULT_PREFERENCES;
    const kind = kindFor(member.userId, message);
    if (!levelAllows(levelFor(preferences, message.roomId), kind)) continue;
    const away = !online.has(member.userId);
    const pushAtMs = away && preferences.push ? quietEndsAt(preferences.quietHours, nowMs) : null;
    const emailAtMs =
      away && preferences.email && member.hasEmail ? nowMs + preferences.emailDelayMinutes * 60_000 : null;
    decisions.push({ userId: member.userId, kind, pushAtMs, emailAtMs });
  }
  return decisions;
}
