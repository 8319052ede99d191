'use client';

import { type MessageView, plainText } from '@confab/protocol';
import { type KeyboardEvent, useEffect, useLayoutEffect, useRef, useState } from 'react';
import {
  completedShortcode,
  emojiCandidates,
  emojiQuery,
  loadShortcodes,
  type Shortcode,
} from '../lib/emoji-shortcodes';
import { composerLimit, type MemberName, mentionCandidates, mentionQuery } from '../lib/room-view';

interface Props {
  members: readonly MemberName[];
  nameOf(userId: string): string;
  replyTo: MessageView | null;
  editing: MessageView | null;
  initialDraft: string;
  onDraft(text: string): void;
  onTyping(typing: boolean): void;
  onSend(text: string): void;
  onSaveEdit(message: MessageView, text: string): void;
  onCancel(): void;
  /** Up in an empty box: edit the user's last message, as in other chats (none: nothing happens). */
  onEditLast?(): void;
}

const TYPING_IDLE_MS = 3000;
/** Drafts are saved (a Yjs update of the user document, stored by the server) at most this often while typing. */
const DRAFT_SAVE_DELAY_MS = 500;

const PLACEHOLDER = 'Write a message (Enter sends, Shift+Enter for a new line)';
const SHORT_PLACEHOLDER = 'Write a message';
const NARROW = '(max-width: 560px)';

/** What completing a word at the caret offers: members after `@`, emoji after `:` and two letters. */
interface Suggestion {
  key: string;
  label: string;
  /** Replaces the text from `start` to the caret. */
  insert: string;
  start: number;
}

/** The emoji shortcode table, loaded the first time someone types a shortcode. */
function useShortcodes(wanted: boolean): readonly Shortcode[] {
  const [table, setTable] = useState<readonly Shortcode[]>([]);
  useEffect(() => {
    if (!wanted || table.length > 0) return;
    let live = true;
    void loadShortcodes().then((loaded) => {
      if (live) setTable(loaded);
    });
    return () => {
      live = false;
    };
  }, [wanted, table.length]);
  return table;
}

/** Whether Enter adds a line instead of sending: the device's main pointer is a finger. */
function enterStartsNewLine(): boolean {
  return typeof window !== 'undefined' && window.matchMedia?.('(pointer: coarse)').matches === true;
}

export function Composer({
  members,
  nameOf,
  replyTo,
  editing,
  initialDraft,
  onDraft,
  onTyping,
  onSend,
  onSaveEdit,
  onCancel,
  onEditLast,
}: Props) {
  const [text, setText] = useState(initialDraft);
  const [placeholder, setPlaceholder] = useState(PLACEHOLDER);
  // Set after mount (the server renders the long one): the keys a phone's keyboard has, and no room for the long one.
  useEffect(() => {
    if (enterStartsNewLine() || window.matchMedia?.(NARROW).matches) setPlaceholder(SHORT_PLACEHOLDER);
  }, []);
  const [caret, setCaret] = useState(0);
  const [selected, setSelected] = useState(0);
  const area = useRef<HTMLTextAreaElement>(null);
  const typingTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const draftBeforeEdit = useRef('');
  // Where the caret goes once a completed mention is in the textarea. Applied in a layout
  // effect, before the next keystroke is handled (a frame later would move it mid-typing).
  const pendingCaret = useRef<number | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs after each text change is committed
  useLayoutEffect(() => {
    if (pendingCaret.current === null || !area.current) return;
    area.current.setSelectionRange(pendingCaret.current, pendingCaret.current);
    pendingCaret.current = null;
  }, [text]);
  const draftTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const unsavedDraft = useRef<string | null>(null);
  // Timers and the unmount flush run later than the render that scheduled them: read the latest callback.
  const onDraftRef = useRef(onDraft);
  onDraftRef.current = onDraft;

  function saveDraftSoon(next: string) {
    unsavedDraft.current = next;
    if (draftTimer.current) return;
    draftTimer.current = setTimeout(flushDraft, DRAFT_SAVE_DELAY_MS);
  }
  function flushDraft() {
    if (draftTimer.current) clearTimeout(draftTimer.current);
    draftTimer.current = null;
    if (unsavedDraft.current !== null) onDraftRef.current(unsavedDraft.current);
    unsavedDraft.current = null;
  }
  // Leaving the room, or the page, saves what was typed.
  // biome-ignore lint/correctness/useExhaustiveDependencies: registered once; flushDraft reads refs
  useEffect(() => {
    window.addEventListener('pagehide', flushDraft);
    return () => {
      window.removeEventListener('pagehide', flushDraft);
      flushDraft();
    };
  }, []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: only when a new edit starts; text is read, not tracked
  useEffect(() => {
    if (editing) {
      draftBeforeEdit.current = text;
      setText(editing.text);
      area.current?.focus();
    }
  }, [editing]);
  useEffect(() => {
    if (replyTo) area.current?.focus();
  }, [replyTo]);
  useEffect(() => {
    setText(initialDraft);
  }, [initialDraft]);

  const mention = mentionQuery(text, caret);
  const shortcode = mention ? null : emojiQuery(text, caret);
  const shortcodes = useShortcodes(shortcode !== null);
  const limit = composerLimit(text);
  // Escape closes the list until the word being completed changes.
  const [dismissedAt, setDismissedAt] = useState<number | null>(null);
  const suggestions: Suggestion[] = mention
    ? mentionCandidates(members, mention.query).map((m) => ({
        key: m.userId,
        label: `@${m.displayName}`,
        insert: `@${m.displayName} `,
        start: mention.start,
      }))
    : shortcode
      ? emojiCandidates(shortcodes, shortcode.query).map(([code, emoji]) => ({
          key: code,
          label: `${emoji} :${code}:`,
          insert: emoji,
          start: shortcode.start,
        }))
      : [];
  const shown = suggestions.length > 0 && suggestions[0]!.start !== dismissedAt ? suggestions : [];

  function stopTyping() {
    if (typingTimer.current) clearTimeout(typingTimer.current);
    typingTimer.current = null;
    onTyping(false);
  }

  function change(typed: string, typedCaret: number) {
    let next = typed;
    let nextCaret = typedCaret;
    // `:tada:` typed out in full, closing colon and all, becomes 🎉 (not in code).
    const done = completedShortcode(shortcodes, typed, typedCaret);
    if (done) {
      next = typed.slice(0, done.start) + done.emoji + typed.slice(typedCaret);
      nextCaret = done.start + done.emoji.length;
      pendingCaret.current = nextCaret;
    }
    setText(next);
    setCaret(nextCaret);
    setSelected(0);
    // A list closed with Escape stays closed while the same word is typed on, not for the next one.
    const word = mentionQuery(next, nextCaret) ?? emojiQuery(next, nextCaret);
    if (word?.start !== dismissedAt) setDismissedAt(null);
    if (!editing) saveDraftSoon(next);
    if (!typingTimer.current) onTyping(true);
    if (typingTimer.current) clearTimeout(typingTimer.current);
    typingTimer.current = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function complete(suggestion: Suggestion) {
    const next = text.slice(0, suggestion.start) + suggestion.insert + text.slice(caret);
    const at = suggestion.start + suggestion.insert.length;
    pendingCaret.current = at;
    change(next, at);
  }

  function submit() {
    const value = text.trim();
    // Too long: it stays in the box, where the note under it says by how much.
    if (!value || limit.over > 0) return;
    if (editing) {
      onSaveEdit(editing, value);
      setText(draftBeforeEdit.current);
    } else {
      onSend(value);
      setText('');
      unsavedDraft.current = '';
      flushDraft();
    }
    stopTyping();
  }

  function keyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (shown.length > 0) {
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        const step = event.key === 'ArrowDown' ? 1 : -1;
        setSelected((s) => (s + step + shown.length) % shown.length);
        return;
      }
      if (event.key === 'Enter' || event.key === 'Tab') {
        event.preventDefault();
        const suggestion = shown[selected];
        if (suggestion) complete(suggestion);
        return;
      }
      if (event.key === 'Escape') {
        event.preventDefault();
        setDismissedAt(shown[0]!.start);
        return;
      }
    }
    if (event.key === 'ArrowUp' && text === '' && !editing && onEditLast) {
      event.preventDefault();
      onEditLast();
      return;
    }
    if (event.key === 'Escape' && (editing || replyTo)) {
      event.preventDefault();
      if (editing) setText(draftBeforeEdit.current);
      onCancel();
      return;
    }
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      // On a touch screen the keyboard's return key starts a new line (as in the phone's own messaging
      // apps: there is no Shift to hold) and the Send button sends; Ctrl/⌘+Enter still sends.
      if (enterStartsNewLine() && !event.ctrlKey && !event.metaKey) return;
      event.preventDefault();
      submit();
    }
  }

  return (
    <div className="composer">
      {(replyTo || editing) && (
        <div className="replying">
          <span>
            {editing
              ? 'Editing your message'
              : `Replying to ${nameOf(replyTo!.author)}: ${plainText(replyTo!.text).slice(0, 80)}`}
          </span>
          <button
            type="button"
            className="link"
            onClick={() => {
              if (editing) setText(draftBeforeEdit.current);
              onCancel();
            }}
          >
            Cancel
          </button>
        </div>
      )}
      {shown.length > 0 && (
        <div className="suggestions" role="listbox" aria-label={mention ? 'Mention suggestions' : 'Emoji suggestions'}>
          {shown.map((suggestion, i) => (
            // Keyboard selection is handled in the textarea (arrows, Enter, Tab, Escape), which keeps the focus.
            <div
              key={suggestion.key}
              role="option"
              tabIndex={-1}
              aria-selected={i === selected}
              onMouseDown={(e) => {
                e.preventDefault();
                complete(suggestion);
              }}
            >
              {suggestion.label}
            </div>
          ))}
        </div>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <label htmlFor="composer" className="sr-only">
          Message
        </label>
        <textarea
          id="composer"
          ref={area}
          rows={1}
          value={text}
          placeholder={placeholder}
          aria-invalid={limit.over > 0 || undefined}
          aria-describedby={limit.note ? 'composer-limit' : undefined}
          onChange={(e) => change(e.target.value, e.target.selectionStart)}
          onSelect={(e) => setCaret(e.currentTarget.selectionStart)}
          onKeyDown={keyDown}
          onBlur={stopTyping}
        />
        {/* Pressing Send leaves the focus in the text box, so a phone's keyboard stays open for the next message. */}
        <button type="submit" className="primary" disabled={limit.over > 0} onMouseDown={(e) => e.preventDefault()}>
          {editing ? 'Save' : 'Send'}
        </button>
      </form>
      {/* Always there, empty below the threshold, so a screen reader hears the note when it appears. */}
      <p id="composer-limit" className={limit.over > 0 ? 'limit over' : 'limit'} aria-live="polite">
        {limit.note}
      </p>
    </div>
  );
}
