import type { Role } from '@confab/protocol';

/**
 * Membership rules, as functions over plain values. The repository applies
 * them inside its transactions so two owners demoting each other at once
 * cannot leave a room ownerless.
 */

/** Changing `current` to `next` (null = leaving) would leave the room without an owner. */
export function leavesNoOwner(current: Role, next: Role | null, ownerCount: number): boolean {
  return current === 'owner' && next !== 'owner' && ownerCount <= 1;
}

/** Owners manage members; anyone may remove themselves. */
export function mayRemoveMember(actor: { userId: string; role: Role }, targetUserId: string): boolean {
  return actor.role === 'owner' || actor.userId === targetUserId;
}

export interface InviteState {
  maxUses: number | null;
  uses: number;
  expiresAt: number | null;
}

export type InviteProblem = 'invite_expired' | 'invite_exhausted';

export function inviteProblem(invite: InviteState, nowMs: number): InviteProblem | null {
  if (invite.expiresAt !== null && nowMs >= invite.expiresAt) return 'invite_expired';
  if (invite.maxUses !== null && invite.uses >= invite.maxUses) return 'invite_exhausted';
  return null;
}
