/** A member's role in a room. The auth server is the authority on it. */
export const ROLES = ['owner', 'member', 'reader'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Anyone but readers may write messages. */
export function canPost(role: Role): boolean {
  return role !== 'reader';
}

/** Owners may delete anyone's message and manage the room. */
export function isOwner(role: Role): boolean {
  return role === 'owner';
}
