'use client';

import {
  appendMessage,
  type ChatMessage,
  CLOSE,
  canPost,
  deleteMessage,
  editMessage,
  isOwner,
  type MessageId,
  type MessageView,
  markRead,
  markUnreadFrom,
  newMessageId,
  type RoomId,
  readMessages,
  roomDocument,
  roomMaps,
  setReaction,
  type UserId,
  userDocument,
} from '@confab/protocol';
import { useVirtualizer } from '@tanstack/react-virtual';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type * as Y from 'yjs';
import { idbName } from '../lib/account-cache';
import type { Member, Room } from '../lib/api';
import { getDraft, setDraft } from '../lib/drafts';
import {
  extractMentions,
  groupMessages,
  onlineUserIds,
  roomStatusText,
  seenBy,
  type Tombstone,
  typingNames,
  unknownAwarenessUsers,
  withTombstones,
} from '../lib/room-view';
import { setTitlePage } from '../lib/title';
import { useApp } from './AppProvider';
import { Composer } from './Composer';
import { useDocHandle, useDocVersion, usePageVisible, usePathSegment } from './hooks';
import { type MessageActions, MessageItem } from './MessageItem';
import { RoomSettings } from './RoomSettings';
import { useUnreadLine } from './unread-line';

/** Within this many pixels of the end counts as "at the bottom" (read marker, auto-scroll). */
const BOTTOM_SLACK_PX = 48;

export function RoomScreen() {
  const roomId = usePathSegment(2);
  return roomId && roomId !== '_' ? <RoomView roomId={roomId} key={roomId} /> : <p className="page muted">Loading…</p>;
}

function RoomView({ roomId }: { roomId: string }) {
  const { user, rooms, api, cache, rememberRoom, forgetRoom } = useApp();
  const router = useRouter();
  const me = user!.id;
  const cachedRoom = rooms.find((r) => r.id === roomId) ?? null;
  const [room, setRoom] = useState<Room | null>(cachedRoom);
  const [members, setMembers] = useState<Member[]>(() => cache?.members(me, roomId) ?? []);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [showSettings, setShowSettings] = useState(false);
  const [replyTo, setReplyTo] = useState<MessageView | null>(null);
  const [editing, setEditing] = useState<MessageView | null>(null);

  const handle = useDocHandle(roomDocument(roomId as RoomId));
  const version = useDocVersion(handle);
  const contentVersion = useDocVersion(handle, { contentOnly: true });
  const userDoc = useDocHandle(userDocument(me as UserId));
  const userVersion = useDocVersion(userDoc);

  // One automatic reconnect of a refused room per visit (opening it, or coming back to the page):
  // if the server still refuses, the screen says so and stays, rather than asking again and again.
  const autoRetried = useRef(false);
  // biome-ignore lint/correctness/useExhaustiveDependencies: rememberRoom changes identity every render
  const loadMembers = useCallback(async () => {
    const result = await api.room(roomId);
    if (result.ok) {
      setRoom(result.data.room);
      setMembers(result.data.members);
      setLoadError(null);
      rememberRoom(result.data.room);
      cache?.setMembers(me, roomId, result.data.members);
      // Refused earlier for not being a member, and a member again now (re-added by an owner, or
      // through a new invite): the refusal is history, so connect the room again.
      const now = handle?.status();
      const refusedMembership =
        now?.kind === 'denied' && (now.reason === CLOSE.membershipRevoked.reason || now.reason === 'forbidden');
      if (refusedMembership && !autoRetried.current) {
        autoRetried.current = true;
        handle?.retry();
      }
    } else if (result.status === 404 || result.status === 403) {
      setLoadError(result.status === 404 ? 'This room does not exist.' : 'You are not a member of this room.');
    }
    // Offline: keep what the cache had.
  }, [api, roomId, cache, me, handle]);
  // Roles and members change elsewhere (an owner makes you a reader, someone joins):
  // refresh when the room (re)connects and when the page comes back into view.
  // The sync server also announces a role changed while the room is open (accessChanges).
  const statusKind = handle?.status().kind;
  const visibleNow = usePageVisible();
  const accessChanges = handle?.accessChanges() ?? 0;
  useEffect(() => {
    if (visibleNow) autoRetried.current = false;
  }, [visibleNow]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: `accessChanges` is the trigger
  useEffect(() => {
    if (visibleNow && statusKind !== 'loading') void loadMembers();
  }, [loadMembers, visibleNow, statusKind, accessChanges]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `contentVersion` changes with the document
  const messages = useMemo(() => (handle ? readMessages(handle.doc) : []), [handle, contentVersion]);
  // Messages deleted while this room was open keep a placeholder (the schema removes them for good).
  const [tombstones, setTombstones] = useState<Tombstone[]>([]);
  useEffect(() => {
    if (!handle) return;
    const array = roomMaps(handle.doc).messages;
    const onChange = (event: Y.YArrayEvent<ChatMessage>) => {
      const gone: Tombstone[] = [];
      for (const item of event.changes.deleted) {
        for (const m of item.content.getContent() as ChatMessage[]) {
          if (m && typeof m.id === 'string') gone.push({ id: m.id, author: m.author, createdAt: m.createdAt });
        }
      }
      if (gone.length > 0) setTombstones((list) => [...list, ...gone]);
    };
    array.observe(onChange);
    return () => array.unobserve(onChange);
  }, [handle]);
  const rows = useMemo(() => groupMessages(withTombstones(messages, tombstones)), [messages, tombstones]);
  const byId = useMemo(() => new Map(messages.map((m) => [m.id as string, m])), [messages]);
  const ids = useMemo(() => messages.map((m) => m.id as string), [messages]);

  const names = useMemo(() => new Map(members.map((m) => [m.userId, m.displayName])), [members]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: awareness changes bump `version`
  const awarenessStates = useMemo(
    () => (handle?.provider.awareness ? [...handle.provider.awareness.getStates().values()] : []),
    [handle, version],
  );
  // Names come from the member list only: the display name in awareness is self-declared.
  const nameOf = useCallback(
    (userId: string) => (userId === me ? user!.displayName : (names.get(userId) ?? 'Former member')),
    [me, user, names],
  );
  const typing = typingNames(awarenessStates, me, names);
  const online = useMemo(() => new Set(onlineUserIds(awarenessStates, names)), [awarenessStates, names]);
  // Someone in the room the member list does not know yet (joined after it was loaded):
  // reload the list once per such user rather than show them under the name they announce.
  const unknownKey = useMemo(() => unknownAwarenessUsers(awarenessStates, names).join(','), [awarenessStates, names]);
  const askedAbout = useRef(new Set<string>());
  useEffect(() => {
    const fresh = unknownKey.split(',').filter((id) => id !== '' && !askedAbout.current.has(id));
    if (fresh.length === 0) return;
    for (const id of fresh) askedAbout.current.add(id);
    void loadMembers();
  }, [unknownKey, loadMembers]);

  const roomName = room?.name ?? null;
  useEffect(() => {
    setTitlePage(roomName);
    return () => setTitlePage(null);
  }, [roomName]);

  const role = room?.role ?? 'member';
  const readonly = handle?.readOnly() ?? false;
  const canWrite = canPost(role) && !readonly;
  const canModerate = isOwner(role);
  const status = handle?.status() ?? { kind: 'loading' as const };
  const pending = handle?.pendingIds() ?? new Set<string>();

  // --- list, scrolling, read marker
  const scroller = useRef<HTMLDivElement>(null);
  const pageVisible = usePageVisible();
  const [atBottom, setAtBottom] = useState(true);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 44,
    overscan: 12,
    getItemKey: (index) => rows[index]?.message.id ?? index,
  });
  const lastId = ids[ids.length - 1];
  const initialScrollDone = useRef(false);
  const [highlighted, setHighlighted] = useState<string | null>(null);
  // Follow new messages only while the reader is at the bottom (or on first load).
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the last message changes
  useEffect(() => {
    if (rows.length === 0) return;
    if (!initialScrollDone.current) {
      initialScrollDone.current = true;
      // `#<messageId>` (a search hit) opens the room at that message instead of the end.
      const target = decodeURIComponent(window.location.hash.slice(1));
      const index = target ? rows.findIndex((r) => r.message.id === target) : -1;
      if (index >= 0) {
        setHighlighted(target);
        setAtBottom(false);
        virtualizer.scrollToIndex(index, { align: 'center' });
        return;
      }
      virtualizer.scrollToIndex(rows.length - 1, { align: 'end' });
    } else if (atBottom) {
      virtualizer.scrollToIndex(rows.length - 1, { align: 'end' });
    }
  }, [lastId, rows.length]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    setAtBottom(el.scrollHeight - el.scrollTop - el.clientHeight < BOTTOM_SLACK_PX);
  };

  // --- "New messages" (before the read marker's effect, which moves the marker it reads).
  const unread = useUnreadLine(handle, { roomId, userId: me, status: statusKind, contentVersion, pageVisible });
  // For the actions below, which stay the same object across renders.
  const unreadRef = useRef(unread);
  unreadRef.current = unread;
  // The room opens at the line rather than at its end, once the line's row is there.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the line or the rows change
  useEffect(() => {
    const indexOf = (id: string) => rows.findIndex((r) => r.message.id === id);
    const target = unread.takeScrollTarget((id) => indexOf(id) >= 0);
    if (target === null) return;
    const index = indexOf(target);
    setAtBottom(false);
    virtualizer.scrollToIndex(index, { align: 'start' });
    // All of it may fit on the screen: then nothing scrolls, and the reader is at the bottom.
    setTimeout(onScroll, 100);
  }, [unread.above, rows]);

  // Set by "Mark unread": the room stays unread, whatever is on screen, until the reader leaves it or writes.
  const keepUnread = useRef(false);
  // biome-ignore lint/correctness/useExhaustiveDependencies: another room starts read as usual
  useEffect(() => {
    keepUnread.current = false;
  }, [roomId]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` tracks the reads map
  useEffect(() => {
    // A reader's connection is read-only: the server drops the marker (with a negative sync
    // status), but it still counts locally, so the reader's unread counts stay right on this device.
    if (!handle || !lastId || !atBottom || !pageVisible || keepUnread.current) return;
    const current = roomMaps(handle.doc).reads.get(me);
    if (current?.messageId !== lastId) markRead(handle.doc, me as UserId, lastId as MessageId, Date.now());
  }, [handle, lastId, atBottom, version, me, pageVisible]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` tracks the reads map
  const seen = useMemo(() => {
    if (!handle || !lastId) return [];
    const reads = new Map(roomMaps(handle.doc).reads.entries());
    const author = byId.get(lastId)?.author;
    return seenBy(ids, reads, lastId, me).filter((id) => id !== author);
  }, [handle, ids, lastId, version, me, byId]);

  // --- actions (kept the same object across renders: every message row takes it, and is memoized)
  const rowsNow = useRef(rows);
  rowsNow.current = rows;
  const actions: MessageActions = useMemo(
    () => ({
      reply: (m) => {
        setEditing(null);
        setReplyTo(m);
      },
      edit: (m) => {
        setReplyTo(null);
        setEditing(m);
      },
      remove: (m) => {
        if (!handle) return;
        if (window.confirm('Delete this message for everyone? This cannot be undone.')) {
          deleteMessage(handle.doc, m.id);
        }
      },
      react: (m, emoji, on) => {
        if (handle) setReaction(handle.doc, m.id, me as UserId, emoji, on, Date.now());
      },
      linkTo: (m) => `${window.location.origin}/chat/${encodeURIComponent(roomId)}#${encodeURIComponent(m.id)}`,
      markUnread: (m) => {
        if (!handle) return;
        // Before the marker moves: the effect that marks the room read runs again when it does.
        keepUnread.current = true;
        if (markUnreadFrom(handle.doc, me as UserId, m.id as MessageId)) unreadRef.current.reshow();
      },
      show: (messageId) => {
        const index = rowsNow.current.findIndex((r) => r.message.id === messageId);
        if (index < 0) return;
        setHighlighted(messageId);
        setAtBottom(false);
        virtualizer.scrollToIndex(index, { align: 'center' });
      },
    }),
    [handle, me, virtualizer, roomId],
  );

  // A message's address opened while its room is open (pasted, or back and forward through the
  // history) changes only the hash: bring that message into view as when the room opened at it.
  useEffect(() => {
    const onHash = () => {
      const target = decodeURIComponent(window.location.hash.slice(1));
      if (target) actions.show(target);
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, [actions]);

  const send = (text: string) => {
    if (!handle) return;
    const mentions = extractMentions(
      text,
      members.filter((m) => m.userId !== me),
    ) as UserId[];
    const message = appendMessage(handle.doc, {
      id: newMessageId(),
      author: me as UserId,
      text,
      createdAt: Date.now(),
      replyTo: replyTo?.id,
      mentions,
    });
    handle.markPending(message.id);
    keepUnread.current = false;
    unread.clear();
    setReplyTo(null);
    setAtBottom(true);
  };

  // biome-ignore lint/correctness/useExhaustiveDependencies: re-read the draft when the user document loads or changes
  const initialDraft = useMemo(
    () => (userDoc ? getDraft(userDoc.doc, roomId) : ''),
    [userDoc, roomId, userVersion > 0],
  );

  // A refused change lives in this device's copy and would be sent again on every reconnect:
  // drop the copy (and its pending ids) and load the room from the server.
  const discardLocalChanges = () => {
    cache?.setPending(me, roomDocument(roomId as RoomId), []);
    indexedDB.deleteDatabase(idbName(me, roomDocument(roomId as RoomId)));
    window.location.reload();
  };

  if (status.kind === 'denied') {
    return (
      <div className="page denied" role="alert">
        <h1>{room?.name ?? 'Room'}</h1>
        <p>{status.message}</p>
        <p>
          <Link href="/chat">Back to your rooms</Link>
        </p>
        {(status.reason === 'forbidden_update' || status.reason === 'message_too_big') && (
          <button type="button" onClick={() => handle?.retry()}>
            Try again
          </button>
        )}{' '}
        {(status.reason === 'forbidden_update' || status.reason === 'message_too_big') && (
          <button type="button" onClick={discardLocalChanges}>
            Discard the changes of this device and reload the room
          </button>
        )}
        {(status.reason === 'membership_revoked' || status.reason === 'room_deleted') && (
          <button
            type="button"
            onClick={() => {
              forgetRoom(roomId);
              router.push('/chat');
            }}
          >
            Remove this room from the list
          </button>
        )}
      </div>
    );
  }

  const statusText = roomStatusText(status, online.size);
  // "Offline · changes kept here": on a phone only the first part shows (see .pill-detail).
  const [pillHead, pillTail] = statusText.pill.split(' · ') as [string, string | undefined];
  return (
    <>
      <section className="room" aria-label={room?.name ?? 'Room'}>
        <header className="room-header">
          <Link href="/chat" className="button" aria-label="Back to rooms">
            ←
          </Link>
          <div>
            <h1>{room?.name ?? (loadError ? 'Unknown room' : 'Loading…')}</h1>
            {room?.topic && <div className="topic">{room.topic}</div>}
          </div>
          <span className="spacer" />
          <span className="status-pill" role="status">
            {pillHead}
            {pillTail && <span className="pill-detail"> · {pillTail}</span>}
          </span>
          <button type="button" onClick={() => setShowSettings((s) => !s)} aria-expanded={showSettings}>
            {canModerate ? 'Settings' : 'Members'}
          </button>
        </header>
        {loadError && (
          <p className="notice error" role="alert">
            {loadError}
          </p>
        )}
        {statusText.notice && (
          <p className="notice" role="status">
            {statusText.notice}
          </p>
        )}
        <div
          className="messages"
          ref={scroller}
          onScroll={onScroll}
          role="log"
          aria-label="Messages"
          aria-live="polite"
          // biome-ignore lint/a11y/noNoninteractiveTabindex: the message log scrolls and must be keyboard reachable
          tabIndex={0}
        >
          {rows.length === 0 && status.kind !== 'loading' && (
            <p className="messages-empty muted">No messages yet. Say hello!</p>
          )}
          <div className="messages-list" style={{ height: virtualizer.getTotalSize() }}>
            {virtualizer.getVirtualItems().map((item) => {
              const row = rows[item.index]!;
              return (
                <div
                  key={item.key}
                  data-index={item.index}
                  ref={virtualizer.measureElement}
                  style={{
                    position: 'absolute',
                    top: 0,
                    left: 0,
                    width: '100%',
                    transform: `translateY(${item.start}px)`,
                  }}
                >
                  <MessageItem
                    row={row}
                    selfId={me}
                    canWrite={canWrite}
                    canModerate={canModerate}
                    pending={pending.has(row.message.id)}
                    highlighted={highlighted === row.message.id}
                    unreadAbove={unread.above === row.message.id}
                    nameOf={nameOf}
                    quoted={row.message.replyTo ? (byId.get(row.message.replyTo) ?? null) : undefined}
                    actions={actions}
                  />
                </div>
              );
            })}
          </div>
          {seen.length > 0 && <div className="seen">Seen by {seen.map(nameOf).join(', ')}</div>}
        </div>
        {!atBottom && rows.length > 0 && (
          <button
            type="button"
            className="jump"
            onClick={() => {
              setAtBottom(true);
              virtualizer.scrollToIndex(rows.length - 1, { align: 'end' });
            }}
          >
            Jump to latest ↓
          </button>
        )}
        <div className="typing" aria-live="polite">
          {typing.length > 0 && `${typing.join(', ')} ${typing.length === 1 ? 'is' : 'are'} typing…`}
        </div>
        {canWrite ? (
          <Composer
            members={members.filter((m) => m.userId !== me)}
            nameOf={nameOf}
            replyTo={replyTo}
            editing={editing}
            initialDraft={initialDraft}
            onDraft={(text) => userDoc && setDraft(userDoc.doc, roomId, text)}
            onTyping={(t) => handle?.provider.setAwarenessField('typing', t)}
            onSend={send}
            onSaveEdit={(m, text) => {
              if (handle && text !== m.text) editMessage(handle.doc, m.id, text, Date.now());
              setEditing(null);
            }}
            onCancel={() => {
              setEditing(null);
              setReplyTo(null);
            }}
            onEditLast={() => {
              const last = messages.findLast((m) => m.author === me);
              if (!last) return;
              setReplyTo(null);
              setEditing(last);
            }}
          />
        ) : (
          <div className="composer muted">
            <p>You can read this room but not write in it.</p>
            {pending.size > 0 && (
              // Written before the change of role reached this device (offline, say): the server
              // refused it. It stays here, and goes out if the owner lets us write again.
              <p role="status">
                {pending.size === 1 ? 'One of your messages was' : `${pending.size} of your messages were`} not sent:
                you can no longer write in this room. This device keeps {pending.size === 1 ? 'it' : 'them'} and sends{' '}
                {pending.size === 1 ? 'it' : 'them'} if you may write here again.{' '}
                <button type="button" onClick={discardLocalChanges}>
                  Discard {pending.size === 1 ? 'it' : 'them'}
                </button>
              </p>
            )}
          </div>
        )}
      </section>
      {showSettings && room && (
        <RoomSettings
          api={api}
          room={room}
          selfId={me}
          members={members}
          online={online}
          onRoomChanged={(r) => {
            setRoom(r);
            rememberRoom(r);
          }}
          onMembersChanged={() => void loadMembers()}
          onLeft={() => forgetRoom(roomId)}
          onClose={() => setShowSettings(false)}
        />
      )}
    </>
  );
}
