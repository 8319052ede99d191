import { isId, type RoomId, type UserId } from './ids';

/**
 * Document names as the sync server knows them: `room:<roomId>` (the room's
 * members) and `user:<userId>` (that user's devices only).
 */
export type DocumentName = `room:${string}` | `user:${string}`;

export type ParsedDocument = { kind: 'room'; roomId: RoomId } | { kind: 'user'; userId: UserId };

export function roomDocument(roomId: RoomId): DocumentName {
  return `room:${roomId}`;
}

export function userDocument(userId: UserId): DocumentName {
  return `user:${userId}`;
}

/** Returns null for anything that is not a well-formed document name. */
export function parseDocumentName(name: unknown): ParsedDocument | null {
  if (typeof name !== 'string') return null;
  const colon = name.indexOf(':');
  if (colon < 0) return null;
  const kind = name.slice(0, colon);
  const id = name.slice(colon + 1);
  if (!isId(id)) return null;
  if (kind === 'room') return { kind: 'room', roomId: id as RoomId };
  if (kind === 'user') return { kind: 'user', userId: id as UserId };
  return null;
}
