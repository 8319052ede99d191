import type { MessageId, MessageView, UserId } from '@confab/protocol';
import { describe, expect, it } from 'vitest';
import { searchMessages } from './search';

const msg = (id: string, text: string, createdAt: number): MessageView => ({
  id: id as MessageId,
  author: 'u1' as UserId,
  text,
  createdAt,
  reactions: {},
});

describe('local search', () => {
  const rooms = [
    { roomId: 'a', roomName: 'Alpha', messages: [msg('1', 'Lunch at the Café?', 1), msg('2', 'no', 2)] },
    { roomId: 'b', roomName: 'Beta', messages: [msg('3', 'cafe tomorrow then', 3)] },
  ];

  it('finds messages in every room, ignoring case and accents, newest first', () => {
    expect(searchMessages(rooms, 'CAFE').map((h) => [h.roomId, h.message.id])).toEqual([
      ['b', '3'],
      ['a', '1'],
    ]);
  });

  it('requires every word of the query', () => {
    expect(searchMessages(rooms, 'cafe lunch').map((h) => h.message.id)).toEqual(['1']);
  });

  it('returns nothing for an empty query', () => {
    expect(searchMessages(rooms, '   ')).toEqual([]);
  });
});
