'use client';

import { EmojiPicker } from 'frimousse';

/**
 * Any emoji as a reaction, searchable by name (frimousse over Emojibase's data, which the app
 * serves from /emojibase: see app/emojibase). It shows only the emoji this device can draw, and
 * closes on a pick or on Escape.
 */
export function ReactionPicker({ onPick, onClose }: { onPick(emoji: string): void; onClose(): void }) {
  return (
    <EmojiPicker.Root
      className="reaction-picker"
      emojibaseUrl="/emojibase"
      locale="en"
      columns={8}
      onEmojiSelect={({ emoji }) => onPick(emoji)}
      onKeyDown={(event) => {
        if (event.key === 'Escape') onClose();
      }}
    >
      <EmojiPicker.Search aria-label="Search emoji" placeholder="Search emoji" autoFocus />
      <EmojiPicker.Viewport className="reaction-picker-viewport">
        <EmojiPicker.Loading className="muted">Loading…</EmojiPicker.Loading>
        <EmojiPicker.Empty className="muted">No emoji found.</EmojiPicker.Empty>
        <EmojiPicker.List aria-label="Emoji" />
      </EmojiPicker.Viewport>
    </EmojiPicker.Root>
  );
}
