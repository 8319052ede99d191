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

/**
 * The stateless message (Hocuspocus `sendStateless`) the sync server sends
 * on a live connection whose role in the room just changed: the connection
 * is already read-only (reader) or writable again (member, owner). Clients
 * that do not know it ignore it; Confab's updates its screen at once.
 */
export const ACCESS_MESSAGE_TYPE = 'confab.access';

export function accessMessage(role: Role): string {
  return JSON.stringify({ type: ACCESS_MESSAGE_TYPE, role });
}

/** The role an access message announces; null for any other stateless payload. */
export function parseAccessMessage(payload: string): Role | null {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { type, role } = value as { type?: unknown; role?: unknown };
  return type === ACCESS_MESSAGE_TYPE && isRole(role) ? role : null;
}

/**
 * The stateless message the sync server sends on every live connection to a room whose members
 * changed (someone joined, left, was removed or got another role), except the connections of the
 * member concerned (they get an access message, or are closed): clients fetch the member list
 * again, so a member who left or was removed leaves the list, and a role changed elsewhere shows,
 * without a reload. Clients that do not know it ignore it.
 */
export const MEMBERS_MESSAGE_TYPE = 'confab.members';

export function membersMessage(): string {
  return JSON.stringify({ type: MEMBERS_MESSAGE_TYPE });
}

export function isMembersMessage(payload: string): boolean {
  try {
    const value = JSON.parse(payload) as { type?: unknown } | null;
    return typeof value === 'object' && value !== null && value.type === MEMBERS_MESSAGE_TYPE;
  } catch {
    return false;
  }
}
