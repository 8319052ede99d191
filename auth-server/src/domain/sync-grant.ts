import { parseDocumentName, type Role } from '@confab/protocol';

/** A sync token lives 15 minutes (the CONTRACT maximum); clients fetch a new one on every reconnect. */
export const SYNC_TOKEN_TTL_MS = 15 * 60 * 1000;
export const MAX_DOCUMENTS_PER_BATCH = 100;

/**
 * Who may open which document: `user:<id>` only that user (as `owner` of
 * their private document), `room:<id>` its members with their role.
 * `roomRoles` holds the caller's role in the rooms asked about.
 */
export function syncGrant(document: string, userId: string, roomRoles: ReadonlyMap<string, Role>): Role | null {
  const parsed = parseDocumentName(document);
  if (!parsed) return null;
  if (parsed.kind === 'user') return parsed.userId === userId ? 'owner' : null;
  return roomRoles.get(parsed.roomId) ?? null;
}

/** The room ids among documents, for the one membership query a batch needs. */
export function roomIdsIn(documents: readonly string[]): string[] {
  const ids = new Set<string>();
  for (const d of documents) {
    const parsed = parseDocumentName(d);
    if (parsed?.kind === 'room') ids.add(parsed.roomId);
  }
  return [...ids];
}
