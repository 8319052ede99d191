import {
  type ChatMessage,
  deleteMessage,
  editMessage,
  markRead,
  reactionKey,
  readMessages,
  roomMaps,
  setReaction,
  type UserId,
} from '@confab/protocol';
import { describe, expect, it } from 'vitest';
import type * as Y from 'yjs';
import type { GuardContext } from './rules';
import { alice, bob, createRoom, olivia, post, prng } from './test-kit';

interface Device {
  doc: Y.Doc;
  user: GuardContext;
}

const EMOJI = ['👍', '🎉', '😂'];

/**
 * Random legitimate operations from several users on several devices, synced
 * at random moments (so appends race and offline batches pile up): every update
 * must be accepted, and the guard's index must match the document.
 *
 * Every device of a user edits and deletes that user's messages, and the
 * owner deletes anyone's, so edits and reactions of messages deleted meanwhile
 * on another device (or by the owner) come up all the time.
 */
describe('random legitimate traffic', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`accepts every legitimate update and keeps the index equal to the document (seed ${seed})`, () => {
      const random = prng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
      const room = createRoom();
      const devices: Device[] = [];
      for (const user of [alice, bob, olivia]) {
        devices.push({ doc: room.join(), user }, { doc: room.join(), user });
      }
      let created = 0;
      let deleted = 0;
      const sync = (d: Device) => {
        const verdict = room.send(d.doc, d.user);
        if (!verdict.ok) throw new Error(`refused ${verdict.rule}: ${verdict.detail} (seed ${seed})`);
        created += verdict.changes.created.length;
        deleted += verdict.changes.deleted.length;
        room.pull(d.doc);
        expect(room.guard.indexedMessages).toBe(roomMaps(room.server).messages.length);
      };

      for (let step = 0; step < 400; step++) {
        const d = pick(devices);
        const me = d.user.userId as UserId;
        const visible = roomMaps(d.doc).messages.toArray();
        const mine = visible.filter((m: ChatMessage) => m.author === me);
        const roll = random();
        if (roll < 0.3) {
          post(d.doc, d.user, `message ${step}`);
        } else if (roll < 0.4 && mine.length > 0) {
          editMessage(d.doc, pick(mine).id, `edited ${step}`, 1_790_000_000_000 + step);
        } else if (roll < 0.47 && mine.length > 0) {
          deleteMessage(d.doc, pick(mine).id);
        } else if (roll < 0.5 && d.user.role === 'owner' && visible.length > 0) {
          deleteMessage(d.doc, pick(visible).id);
        } else if (roll < 0.6 && visible.length > 0) {
          const target = pick(visible).id;
          const emoji = pick(EMOJI);
          const on = !roomMaps(d.doc).reactions.has(reactionKey(target, me, emoji));
          setReaction(d.doc, target, me, emoji, on, 1_790_000_000_000 + step);
        } else if (roll < 0.7 && visible.length > 0) {
          markRead(d.doc, me, visible[visible.length - 1]!.id, 1_790_000_000_000 + step);
        } else {
          sync(d);
        }
      }
      for (const d of devices) sync(d);

      const messages = roomMaps(room.server).messages.toArray();
      expect(messages.length).toBeGreaterThan(20);
      expect(room.guard.indexedMessages).toBe(messages.length);
      for (const m of messages) expect(room.guard.authorOf(m.id)).toBe(m.author);
      expect(created - deleted).toBe(messages.length);
      const shown = new Set<string>(messages.map((m) => m.id));
      // Edits that reached the server after their message was deleted (by another device or the owner).
      const dangling = [...roomMaps(room.server).edits.keys()].filter((id) => !shown.has(id));
      expect(dangling.length).toBeGreaterThan(0);
      // Edits of deleted messages stay in the document but never show: every view is of a live message.
      expect(readMessages(room.server).every((v) => shown.has(v.id))).toBe(true);
    });
  }
});
