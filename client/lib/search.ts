import type { MessageView } from '@confab/protocol';

/**
 * Local search over the rooms held in IndexedDB: works offline, and never
 * sends the query anywhere. Case- and accent-insensitive substring match on
 * every word of the query; newest hits first.
 */
export interface SearchableRoom {
  roomId: string;
  roomName: string;
  messages: readonly MessageView[];
}

export interface SearchHit {
  roomId: string;
  roomName: string;
  message: MessageView;
}

export function normalize(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
}

export function searchMessages(rooms: readonly SearchableRoom[], query: string, limit = 50): SearchHit[] {
  const words = normalize(query).split(/\s+/).filter(Boolean);
  if (words.length === 0) return [];
  const hits: SearchHit[] = [];
  for (const room of rooms) {
    for (const message of room.messages) {
      const haystack = normalize(message.text);
      if (words.every((w) => haystack.includes(w)))
        hits.push({ roomId: room.roomId, roomName: room.roomName, message });
    }
  }
  hits.sort((a, b) => b.message.createdAt - a.message.createdAt);
  return hits.slice(0, limit);
}
