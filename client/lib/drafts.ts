import type * as Y from 'yjs';

/**
 * Per-room drafts live in the user's private document `user:<userId>` under
 * the map `drafts` (roomId → text), so they follow the user across devices
 * and survive reloads. An empty draft is removed rather than stored.
 */
export const DRAFTS_KEY = 'drafts';

export function drafts(userDoc: Y.Doc): Y.Map<string> {
  return userDoc.getMap<string>(DRAFTS_KEY);
}

export function getDraft(userDoc: Y.Doc, roomId: string): string {
  return drafts(userDoc).get(roomId) ?? '';
}

export function setDraft(userDoc: Y.Doc, roomId: string, text: string): void {
  const map = drafts(userDoc);
  if (text.length === 0) {
    if (map.has(roomId)) map.delete(roomId);
  } else if (map.get(roomId) !== text) {
    map.set(roomId, text);
  }
}
