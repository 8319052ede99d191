import { describe, expect, it } from 'vitest';
import { eventKindOf, parseEvent, subjects } from './events';

describe('bus events', () => {
  it('maps every contract subject to its kind', () => {
    expect(eventKindOf(subjects.messageCreated('r1'))).toBe('message.created');
    expect(eventKindOf(subjects.messageEdited('r1'))).toBe('message.edited');
    expect(eventKindOf(subjects.messageDeleted('r1'))).toBe('message.deleted');
    expect(eventKindOf(subjects.read('r1'))).toBe('read');
    expect(eventKindOf(subjects.sessionRevoked)).toBe('session.revoked');
    expect(eventKindOf(subjects.membershipChanged)).toBe('membership.changed');
    expect(eventKindOf(subjects.passwordResetRequested)).toBe('password_reset.requested');
    expect(eventKindOf(subjects.userDeleted)).toBe('user.deleted');
    expect(eventKindOf(subjects.roomDeleted)).toBe('room.deleted');
    expect(eventKindOf('confab.room.r1.message.exploded')).toBeNull();
    expect(eventKindOf('confab.room.a.b.read')).toBeNull();
  });

  it('validates a payload against the schema its subject implies', () => {
    const created = {
      id: 'e1',
      roomId: 'r1',
      messageId: 'm1',
      authorId: 'u1',
      text: 'hi',
      replyTo: null,
      mentions: [],
      createdAt: 5,
      onlineUserIds: ['u2'],
    };
    expect(parseEvent(subjects.messageCreated('r1'), created).event).toEqual(created);
    expect(() => parseEvent(subjects.messageCreated('r1'), { ...created, mentions: undefined })).toThrow();
    expect(() =>
      parseEvent(subjects.membershipChanged, { id: 'e', roomId: 'r', userId: 'u', role: 'admin' }),
    ).toThrow();
    expect(parseEvent(subjects.membershipChanged, { id: 'e', roomId: 'r', userId: 'u', role: null }).kind).toBe(
      'membership.changed',
    );
    const reset = { id: 'e', userId: 'u', email: 'a@b.c', displayName: 'A', token: 'x'.repeat(32), expiresAt: 9 };
    expect(parseEvent(subjects.passwordResetRequested, reset).kind).toBe('password_reset.requested');
    expect(() => parseEvent(subjects.passwordResetRequested, { ...reset, token: 'short' })).toThrow();
  });
});
