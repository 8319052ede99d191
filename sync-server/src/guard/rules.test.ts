import { describe, expect, it } from 'vitest';
import {
  editDeleteRule,
  editValueRule,
  editWriteRule,
  type GuardContext,
  messageDeleteRule,
  newMessageRule,
  reactionKeyRule,
  reactionValueRule,
  readKeyRule,
  readValueRule,
  writeAllowed,
} from './rules';

const alice: GuardContext = { userId: 'alice', role: 'member' };
const owner: GuardContext = { userId: 'olivia', role: 'owner' };
const reader: GuardContext = { userId: 'rita', role: 'reader' };
const msg = (over: Record<string, unknown> = {}) => ({
  id: 'm1',
  author: 'alice',
  text: 'hi',
  createdAt: 1_790_000_000_000,
  ...over,
});
const none = () => false;

describe('pure room rules', () => {
  it('refuses any write from a reader and allows members and owners', () => {
    expect(writeAllowed(reader)?.rule).toBe('read_only');
    expect(writeAllowed(alice)).toBeNull();
    expect(writeAllowed(owner)).toBeNull();
  });

  it('refuses a message whose author is someone else, and accepts one by the sender', () => {
    expect(newMessageRule(msg({ author: 'bob' }), alice, none)?.rule).toBe('message_author');
    expect(newMessageRule(msg(), alice, none)).toBeNull();
  });

  it('refuses a message with an invalid shape, and accepts replyTo and mentions', () => {
    expect(newMessageRule(msg({ text: '' }), alice, none)?.rule).toBe('message_shape');
    expect(newMessageRule(msg({ text: '   ' }), alice, none)?.rule).toBe('message_shape');
    expect(newMessageRule(msg({ createdAt: 1.5 }), alice, none)?.rule).toBe('message_shape');
    expect(newMessageRule(msg({ extra: 1 }), alice, none)?.rule).toBe('message_shape');
    expect(newMessageRule('hi', alice, none)?.rule).toBe('message_shape');
    expect(newMessageRule(msg({ replyTo: 'm0', mentions: ['bob'] }), alice, none)).toBeNull();
  });

  it('refuses a message whose id is already taken', () => {
    expect(newMessageRule(msg(), alice, (id) => id === 'm1')?.rule).toBe('message_shape');
    expect(newMessageRule(msg({ id: 'm2' }), alice, (id) => id === 'm1')).toBeNull();
  });

  it('lets only the author or an owner delete a message', () => {
    expect(messageDeleteRule('bob', alice)?.rule).toBe('message_delete_not_allowed');
    expect(messageDeleteRule('alice', alice)).toBeNull();
    expect(messageDeleteRule('bob', owner)).toBeNull();
  });

  it('lets only the author edit a message, also after it was deleted', () => {
    const live = (author: string) => ({ state: 'live' as const, author });
    const deleted = (author: string) => ({ state: 'deleted' as const, author });
    expect(editWriteRule('m1', live('bob'), alice)?.rule).toBe('edit_not_author');
    expect(editWriteRule('m1', live('bob'), owner)?.rule).toBe('edit_not_author');
    expect(editWriteRule('m1', live('alice'), alice)).toBeNull();
    expect(editWriteRule('m1', deleted('bob'), alice)?.rule).toBe('edit_not_author');
    expect(editWriteRule('m1', deleted('alice'), alice)).toBeNull();
  });

  it('accepts an edit of a message the room knows nothing about, as an inert entry', () => {
    // Inert because newMessageRule's idTaken covers ids with an edits entry (room-guard.test.ts checks it).
    expect(editWriteRule('m1', { state: 'unknown' }, alice)).toBeNull();
  });

  it('refuses an edit value outside {text, editedAt}', () => {
    expect(editValueRule({ text: 'x' })?.rule).toBe('edit_shape');
    expect(editValueRule({ text: 'x'.repeat(4001), editedAt: 1 })?.rule).toBe('edit_shape');
    expect(editValueRule({ text: 'x', editedAt: 1 })).toBeNull();
  });

  it('lets the author or an owner remove an edit, and anyone remove an edit whose message is unknown', () => {
    expect(editDeleteRule('m1', { state: 'live', author: 'bob' }, alice)?.rule).toBe('edit_not_author');
    expect(editDeleteRule('m1', { state: 'deleted', author: 'bob' }, alice)?.rule).toBe('edit_not_author');
    expect(editDeleteRule('m1', { state: 'live', author: 'alice' }, alice)).toBeNull();
    expect(editDeleteRule('m1', { state: 'deleted', author: 'bob' }, owner)).toBeNull();
    expect(editDeleteRule('m1', { state: 'unknown' }, alice)).toBeNull();
  });

  it('lets a user react only in their own name', () => {
    expect(reactionKeyRule('m1|bob|👍', alice)?.rule).toBe('reaction_not_own');
    expect(reactionKeyRule('m1|bob|👍', owner)?.rule).toBe('reaction_not_own');
    expect(reactionKeyRule('m1|alice|👍', alice)).toBeNull();
  });

  it('refuses a reaction key or value outside the shape', () => {
    expect(reactionKeyRule('m1|alice', alice)?.rule).toBe('reaction_shape');
    expect(reactionKeyRule('m1|alice|a b', alice)?.rule).toBe('reaction_shape');
    expect(reactionValueRule(-1)?.rule).toBe('reaction_shape');
    expect(reactionValueRule('1')?.rule).toBe('reaction_shape');
    expect(reactionValueRule(1_790_000_000_000)).toBeNull();
  });

  it('lets a user move only their own read marker', () => {
    expect(readKeyRule('bob', alice)?.rule).toBe('read_not_own');
    expect(readKeyRule('alice', alice)).toBeNull();
  });

  it('refuses a read marker outside {messageId, at}', () => {
    expect(readValueRule({ messageId: 'm1' })?.rule).toBe('read_shape');
    expect(readValueRule({ messageId: 'm 1', at: 1 })?.rule).toBe('read_shape');
    expect(readValueRule({ messageId: 'm1', at: 1 })).toBeNull();
  });
});
