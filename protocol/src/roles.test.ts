import { describe, expect, it } from 'vitest';
import {
  ACCESS_MESSAGE_TYPE,
  accessMessage,
  canPost,
  isMembersMessage,
  isOwner,
  MEMBERS_MESSAGE_TYPE,
  membersMessage,
  parseAccessMessage,
} from './roles';

describe('roles', () => {
  it('lets everyone but readers post, and only owners moderate', () => {
    expect([canPost('owner'), canPost('member'), canPost('reader')]).toEqual([true, true, false]);
    expect([isOwner('owner'), isOwner('member'), isOwner('reader')]).toEqual([true, false, false]);
  });
});

describe('the access message', () => {
  it('carries a role there and back', () => {
    for (const role of ['owner', 'member', 'reader'] as const) {
      expect(parseAccessMessage(accessMessage(role))).toBe(role);
    }
    expect(JSON.parse(accessMessage('reader'))).toEqual({ type: ACCESS_MESSAGE_TYPE, role: 'reader' });
  });

  it('is null for any other stateless payload: not JSON, another type, an unknown role', () => {
    expect(parseAccessMessage('not json')).toBeNull();
    expect(parseAccessMessage('null')).toBeNull();
    expect(parseAccessMessage('"confab.access"')).toBeNull();
    expect(parseAccessMessage(JSON.stringify({ type: 'other', role: 'reader' }))).toBeNull();
    expect(parseAccessMessage(JSON.stringify({ type: ACCESS_MESSAGE_TYPE, role: 'admin' }))).toBeNull();
    expect(parseAccessMessage(JSON.stringify({ type: ACCESS_MESSAGE_TYPE }))).toBeNull();
  });
});

describe('the members message', () => {
  it('is recognised, and is neither an access message nor mistaken for one', () => {
    expect(isMembersMessage(membersMessage())).toBe(true);
    expect(JSON.parse(membersMessage())).toEqual({ type: MEMBERS_MESSAGE_TYPE });
    expect(parseAccessMessage(membersMessage())).toBeNull();
    expect(isMembersMessage(accessMessage('member'))).toBe(false);
    expect(isMembersMessage('not json')).toBe(false);
    expect(isMembersMessage('null')).toBe(false);
  });
});
