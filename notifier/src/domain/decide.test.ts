import { describe, expect, it } from 'vitest';
import { decideForMessage, kindFor, levelAllows, type NewMessageFacts } from './decide';
import { DEFAULT_PREFERENCES, type Preferences } from './preferences';

const NOW = Date.UTC(2026, 10, 26, 12, 0); // 12:00 UTC
const ROOM = 'room1';

function message(overrides: Partial<NewMessageFacts> = {}): NewMessageFacts {
  return { roomId: ROOM, authorId: 'author', mentions: [], replyToAuthorId: null, onlineUserIds: [], ...overrides };
}

function prefs(overrides: Partial<Preferences> = {}): Preferences {
  return { ...DEFAULT_PREFERENCES, ...overrides };
}

describe('the decision matrix', () => {
  // level × kind × online → in-app / push / email
  const table: {
    rule: string;
    preferences: Preferences;
    kind: 'message' | 'mention' | 'reply';
    online?: boolean;
    inApp: boolean;
    push: boolean;
    email: boolean;
  }[] = [
    { rule: 'all: a plain message', preferences: prefs(), kind: 'message', inApp: true, push: true, email: true },
    { rule: 'all: a mention', preferences: prefs(), kind: 'mention', inApp: true, push: true, email: true },
    { rule: 'all: a reply', preferences: prefs(), kind: 'reply', inApp: true, push: true, email: true },
    {
      rule: 'mentions: a plain message is not notified',
      preferences: prefs({ default: 'mentions' }),
      kind: 'message',
      inApp: false,
      push: false,
      email: false,
    },
    {
      rule: 'mentions: a mention is notified',
      preferences: prefs({ default: 'mentions' }),
      kind: 'mention',
      inApp: true,
      push: true,
      email: true,
    },
    {
      rule: 'mentions: a reply counts as a mention',
      preferences: prefs({ default: 'mentions' }),
      kind: 'reply',
      inApp: true,
      push: true,
      email: true,
    },
    {
      rule: 'none: not even a mention',
      preferences: prefs({ default: 'none' }),
      kind: 'mention',
      inApp: false,
      push: false,
      email: false,
    },
    {
      rule: 'the room entry wins over the default (none in the room)',
      preferences: prefs({ default: 'all', rooms: { [ROOM]: 'none' } }),
      kind: 'mention',
      inApp: false,
      push: false,
      email: false,
    },
    {
      rule: 'the room entry wins over the default (all in the room)',
      preferences: prefs({ default: 'none', rooms: { [ROOM]: 'all' } }),
      kind: 'message',
      inApp: true,
      push: true,
      email: true,
    },
    {
      rule: 'another room’s entry does not apply',
      preferences: prefs({ default: 'all', rooms: { other: 'none' } }),
      kind: 'message',
      inApp: true,
      push: true,
      email: true,
    },
    {
      rule: 'an online user gets it in-app only',
      preferences: prefs(),
      kind: 'mention',
      online: true,
      inApp: true,
      push: false,
      email: false,
    },
    {
      rule: 'push off: in-app and email',
      preferences: prefs({ push: false }),
      kind: 'message',
      inApp: true,
      push: false,
      email: true,
    },
    {
      rule: 'email off: in-app and push',
      preferences: prefs({ email: false }),
      kind: 'message',
      inApp: true,
      push: true,
      email: false,
    },
  ];

  for (const row of table) {
    it(`${row.rule} → in-app ${row.inApp}, push ${row.push}, email ${row.email}`, () => {
      const facts = message({
        mentions: row.kind === 'mention' ? ['bob'] : [],
        replyToAuthorId: row.kind === 'reply' ? 'bob' : null,
        onlineUserIds: row.online ? ['bob'] : [],
      });
      const decisions = decideForMessage(facts, [{ userId: 'bob', hasEmail: true }], () => row.preferences, NOW);
      const bob = decisions.find((d) => d.userId === 'bob');
      expect(bob !== undefined).toBe(row.inApp);
      if (bob) {
        expect(bob.kind).toBe(row.kind);
        expect(bob.pushAtMs !== null).toBe(row.push);
        expect(bob.emailAtMs !== null).toBe(row.email);
      }
    });
  }
});

describe('decideForMessage', () => {
  it('never notifies the author, even when they mention themselves', () => {
    const decisions = decideForMessage(
      message({ mentions: ['author'] }),
      [
        { userId: 'author', hasEmail: true },
        { userId: 'bob', hasEmail: true },
      ],
      () => undefined,
      NOW,
    );
    expect(decisions.map((d) => d.userId)).toEqual(['bob']);
  });

  it('notifies only the members it is given, not people mentioned from outside the room', () => {
    const decisions = decideForMessage(
      message({ mentions: ['outsider', 'bob'] }),
      [{ userId: 'bob', hasEmail: true }],
      () => undefined,
      NOW,
    );
    expect(decisions.map((d) => d.userId)).toEqual(['bob']);
  });

  it('uses the defaults (all, push, email after 10 minutes) for a user without preferences', () => {
    const [bob] = decideForMessage(message(), [{ userId: 'bob', hasEmail: true }], () => undefined, NOW);
    expect(bob).toEqual({ userId: 'bob', kind: 'message', pushAtMs: NOW, emailAtMs: NOW + 10 * 60_000 });
  });

  it('delays the email by the user’s emailDelayMinutes', () => {
    const [bob] = decideForMessage(
      message(),
      [{ userId: 'bob', hasEmail: true }],
      () => prefs({ emailDelayMinutes: 3 }),
      NOW,
    );
    expect(bob?.emailAtMs).toBe(NOW + 3 * 60_000);
  });

  it('sends no email to a member without an address', () => {
    const [bob] = decideForMessage(message(), [{ userId: 'bob', hasEmail: false }], () => undefined, NOW);
    expect(bob?.emailAtMs).toBeNull();
  });

  it('holds a push back until quiet hours end, but still records it and schedules the email', () => {
    // 12:00 UTC is 13:00 in Berlin: inside 12:30–14:00.
    const [bob] = decideForMessage(
      message({ mentions: ['bob'] }),
      [{ userId: 'bob', hasEmail: true }],
      () => prefs({ quietHours: { start: '12:30', end: '14:00', timeZone: 'Europe/Berlin' } }),
      NOW,
    );
    expect(bob?.pushAtMs).toBe(NOW + 60 * 60_000);
    expect(bob?.emailAtMs).toBe(NOW + 10 * 60_000);
  });

  it('a mention beats a reply when a message is both', () => {
    expect(kindFor('bob', message({ mentions: ['bob'], replyToAuthorId: 'bob' }))).toBe('mention');
    expect(kindFor('bob', message({ replyToAuthorId: 'bob' }))).toBe('reply');
    expect(kindFor('bob', message({ replyToAuthorId: 'carol' }))).toBe('message');
  });

  it('levels let through exactly: all → everything, mentions → mentions and replies, none → nothing', () => {
    const kinds = ['message', 'mention', 'reply'] as const;
    expect(kinds.map((k) => levelAllows('all', k))).toEqual([true, true, true]);
    expect(kinds.map((k) => levelAllows('mentions', k))).toEqual([false, true, true]);
    expect(kinds.map((k) => levelAllows('none', k))).toEqual([false, false, false]);
  });
});
