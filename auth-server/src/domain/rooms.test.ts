import { describe, expect, it } from 'vitest';
import { inviteProblem, leavesNoOwner, mayRemoveMember } from './rooms';
import { roomIdsIn, syncGrant } from './sync-grant';

describe('membership rules', () => {
  it('the last owner may not demote themselves or leave; with two owners either may', () => {
    expect(leavesNoOwner('owner', 'member', 1)).toBe(true);
    expect(leavesNoOwner('owner', null, 1)).toBe(true);
    expect(leavesNoOwner('owner', 'owner', 1)).toBe(false);
    expect(leavesNoOwner('owner', null, 2)).toBe(false);
    expect(leavesNoOwner('member', null, 1)).toBe(false);
  });

  it('owners remove anyone, members only themselves', () => {
    expect(mayRemoveMember({ userId: 'a', role: 'owner' }, 'b')).toBe(true);
    expect(mayRemoveMember({ userId: 'a', role: 'member' }, 'a')).toBe(true);
    expect(mayRemoveMember({ userId: 'a', role: 'reader' }, 'b')).toBe(false);
  });

  it('an invite is expired at its expiry and exhausted at maxUses', () => {
    expect(inviteProblem({ maxUses: null, uses: 100, expiresAt: null }, 0)).toBeNull();
    expect(inviteProblem({ maxUses: 2, uses: 2, expiresAt: null }, 0)).toBe('invite_exhausted');
    expect(inviteProblem({ maxUses: 2, uses: 1, expiresAt: 10 }, 10)).toBe('invite_expired');
    expect(inviteProblem({ maxUses: 2, uses: 1, expiresAt: 10 }, 9)).toBeNull();
  });
});

describe('sync grants', () => {
  const roles = new Map([['r1', 'reader' as const]]);

  it('grants a user document to that user only, as owner', () => {
    expect(syncGrant('user:u1', 'u1', roles)).toBe('owner');
    expect(syncGrant('user:u2', 'u1', roles)).toBeNull();
  });

  it('grants a room document with the member role, nothing to non-members or malformed names', () => {
    expect(syncGrant('room:r1', 'u1', roles)).toBe('reader');
    expect(syncGrant('room:r2', 'u1', roles)).toBeNull();
    expect(syncGrant('room:', 'u1', roles)).toBeNull();
    expect(syncGrant('other:r1', 'u1', roles)).toBeNull();
  });

  it('collects the distinct room ids of a batch for one membership query', () => {
    expect(roomIdsIn(['room:a', 'user:x', 'room:a', 'room:b', 'junk'])).toEqual(['a', 'b']);
  });
});
