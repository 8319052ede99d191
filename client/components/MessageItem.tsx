'use client';

import { type MessageView, plainText } from '@confab/protocol';
import { memo, useState } from 'react';
import type { MessageRow } from '../lib/room-view';
import { Formatted } from './Formatted';
import { ReactionPicker } from './ReactionPicker';

export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '👀'];

export interface MessageActions {
  reply(message: MessageView): void;
  edit(message: MessageView): void;
  remove(message: MessageView): void;
  react(message: MessageView, emoji: string, on: boolean): void;
  /** Brings the message into view, marked (a reply's quote leads to what it replies to). */
  show(messageId: string): void;
  /** The message's own address (`/chat/<roomId>#<messageId>`), which opens the room at it, marked. */
  linkTo(message: MessageView): string;
  /** "Mark unread": the message and what follows count as unread again, until the reader leaves the room or writes. */
  markUnread(message: MessageView): void;
}

interface Props {
  row: MessageRow;
  selfId: string;
  canWrite: boolean;
  canModerate: boolean;
  pending: boolean;
  /** The message a link pointed at (a search hit). */
  highlighted?: boolean;
  /** The first message that came while the reader was away: a "New messages" line goes above it. */
  unreadAbove?: boolean;
  nameOf(userId: string): string;
  quoted: MessageView | null | undefined;
  actions: MessageActions;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(undefined, {
  weekday: 'long',
  year: 'numeric',
  month: 'long',
  day: 'numeric',
});

export const MessageItem = memo(function MessageItem({
  row,
  selfId,
  canWrite,
  canModerate,
  pending,
  highlighted = false,
  unreadAbove = false,
  nameOf,
  quoted,
  actions,
}: Props) {
  const { message } = row;
  // The first unread message opens a run of its own below the line, so it names its author.
  const showHeader = row.showHeader || unreadAbove;
  const mentioned = message.mentions?.includes(selfId as never) ?? false;
  return (
    <>
      {row.day && <div className="day">{dayFormat.format(message.createdAt)}</div>}
      {unreadAbove && (
        <div className="unread-line">
          <span>New messages</span>
        </div>
      )}
      <article
        className={`msg${showHeader ? ' head' : ''}${mentioned ? ' mentioned' : ''}${highlighted ? ' highlighted' : ''}`}
        aria-label={`${nameOf(message.author)} at ${timeFormat.format(message.createdAt)}`}
        data-message-id={message.id}
      >
        {showHeader && (
          <div className="meta">
            <span className="author">{nameOf(message.author)}</span>
            <time className="time" dateTime={new Date(message.createdAt).toISOString()}>
              {timeFormat.format(message.createdAt)}
            </time>
          </div>
        )}
        {message.replyTo !== undefined && (
          <div className="quote">
            {quoted ? (
              <button
                type="button"
                className="quote-link"
                title="Show the message this replies to"
                onClick={() => actions.show(quoted.id)}
              >
                <strong>{nameOf(quoted.author)}</strong>: {plainText(quoted.text).slice(0, 140)}
              </button>
            ) : (
              <em>Original message was deleted</em>
            )}
          </div>
        )}
        {message.deleted ? (
          <div className="text deleted">Message deleted</div>
        ) : (
          <MessageBody {...{ message, pending, selfId, canWrite, canModerate, nameOf, actions }} />
        )}
      </article>
    </>
  );
});

function MessageBody({
  message,
  pending,
  selfId,
  canWrite,
  canModerate,
  nameOf,
  actions,
}: Omit<Props, 'row' | 'highlighted' | 'quoted'> & { message: MessageView }) {
  const mine = message.author === selfId;
  const [picking, setPicking] = useState(false);
  const [copied, setCopied] = useState(false);
  const copyLink = async () => {
    const link = actions.linkTo(message);
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      // No clipboard (a page not served over https, a refusal): show it to copy by hand.
      window.prompt('Link to this message', link);
    }
  };
  return (
    <>
      <div className="text">
        <Formatted text={message.text} />
        {message.editedAt !== undefined && <span className="edited"> (edited)</span>}
        {pending && <span className="pending"> · {canWrite ? 'pending' : 'not sent'}</span>}
      </div>
      {Object.keys(message.reactions).length > 0 && (
        <div className="reactions">
          {Object.entries(message.reactions).map(([emoji, users]) => {
            const on = users.includes(selfId as never);
            return (
              <button
                key={emoji}
                type="button"
                aria-pressed={on}
                aria-label={`${emoji} ${users.length}, ${users.map(nameOf).join(', ')}`}
                disabled={!canWrite}
                onClick={() => actions.react(message, emoji, !on)}
              >
                {emoji} {users.length}
              </button>
            );
          })}
        </div>
      )}
      {canWrite && (
        <div className="actions">
          <button type="button" className="link" onClick={() => actions.reply(message)}>
            Reply
          </button>
          {QUICK_REACTIONS.slice(0, 3).map((emoji) => (
            <button
              key={emoji}
              type="button"
              className="link"
              aria-label={`React with ${emoji}`}
              onClick={() => actions.react(message, emoji, !(message.reactions[emoji] ?? []).includes(selfId as never))}
            >
              {emoji}
            </button>
          ))}
          <button
            type="button"
            className="link"
            aria-label="Add a reaction"
            aria-expanded={picking}
            onClick={() => setPicking((open) => !open)}
          >
            +
          </button>
          <button type="button" className="link" onClick={() => void copyLink()}>
            {copied ? 'Copied' : 'Link'}
          </button>
          {!mine && (
            <button type="button" className="link" onClick={() => actions.markUnread(message)}>
              Mark unread
            </button>
          )}
          {mine && (
            <button type="button" className="link" onClick={() => actions.edit(message)}>
              Edit
            </button>
          )}
          {(mine || canModerate) && (
            <button type="button" className="link danger" onClick={() => actions.remove(message)}>
              Delete
            </button>
          )}
        </div>
      )}
      {canWrite && picking && (
        <ReactionPicker
          onPick={(emoji) => {
            setPicking(false);
            // Picking an emoji the user has already put on the message leaves it there.
            if (!(message.reactions[emoji] ?? []).includes(selfId as never)) actions.react(message, emoji, true);
          }}
          onClose={() => setPicking(false)}
        />
      )}
    </>
  );
}
