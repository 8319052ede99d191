'use client';

import { plainText, type RoomId, readMessages, roomDocument, type UserId } from '@confab/protocol';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { type FormEvent, useEffect, useMemo, useState } from 'react';
import { describeFailure } from '../lib/api';
import { type RoomSummary, sortByActivity, summarizeRoom } from '../lib/room-view';
import { searchMessages } from '../lib/search';
import type { DocHandle } from '../lib/sync-client';
import { useApp } from './AppProvider';

const toMs = (value: string | number) => (typeof value === 'number' ? value : Date.parse(value) || 0);

/** Opens every room of the list (all on the one shared socket) for previews, unread counts and search. */
function useRoomHandles(roomIds: string[]): { handles: Map<string, DocHandle>; tick: number } {
  const { sync } = useApp();
  const [handles, setHandles] = useState<Map<string, DocHandle>>(new Map());
  const [tick, setTick] = useState(0);
  const key = roomIds.join(',');
  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` stands for roomIds
  useEffect(() => {
    if (!sync) return;
    const map = new Map<string, DocHandle>();
    let frame = 0;
    const bump = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setTick((t) => t + 1);
      });
    };
    const offs: (() => void)[] = [];
    for (const id of roomIds) {
      const handle = sync.open(roomDocument(id as RoomId));
      map.set(id, handle);
      handle.doc.on('update', bump);
      offs.push(() => handle.doc.off('update', bump));
      void handle.whenLoaded.then(bump);
    }
    setHandles(map);
    return () => {
      if (frame) cancelAnimationFrame(frame);
      for (const off of offs) off();
      for (const h of map.values()) h.release();
    };
  }, [sync, key]);
  return { handles, tick };
}

export function RoomList() {
  const { rooms, user, api, cache, rememberRoom } = useApp();
  const router = useRouter();
  const { handles, tick } = useRoomHandles(rooms.map((r) => r.id));
  const [query, setQuery] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `tick` changes when any room document does
  const summaries = useMemo(() => {
    if (!user) return [];
    const list: (RoomSummary & { name: string; loaded: boolean })[] = rooms.map((room) => {
      const handle = handles.get(room.id);
      const loaded = !!handle && handle.status().kind !== 'loading';
      const base = handle
        ? summarizeRoom(room.id, handle.doc, user.id as UserId, toMs(room.createdAt))
        : { roomId: room.id, unread: 0, lastMessage: null, lastActivityMs: toMs(room.createdAt) };
      return { ...base, name: room.name, loaded };
    });
    return sortByActivity(list);
  }, [rooms, handles, tick, user]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `tick` changes when any room document does
  const hits = useMemo(() => {
    if (!query.trim()) return [];
    return searchMessages(
      rooms.flatMap((room) => {
        const handle = handles.get(room.id);
        return handle ? [{ roomId: room.id, roomName: room.name, messages: readMessages(handle.doc) }] : [];
      }),
      query,
    );
  }, [query, rooms, handles, tick]);

  const nameOf = (roomId: string, authorId: string) => {
    if (authorId === user?.id) return 'You';
    return cache?.members(user?.id ?? '', roomId).find((m) => m.userId === authorId)?.displayName ?? 'Someone';
  };

  async function create(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const name = String(form.get('name') ?? '').trim();
    const topic = String(form.get('topic') ?? '').trim();
    setCreating(true);
    const result = await api.createRoom(topic ? { name, topic } : { name });
    setCreating(false);
    if (!result.ok) {
      setError(describeFailure(result));
      return;
    }
    rememberRoom(result.data.room);
    router.push(`/chat/${encodeURIComponent(result.data.room.id)}`);
  }

  return (
    <div className="page">
      <h1>Chats</h1>
      <label htmlFor="search">Search messages</label>
      <input
        id="search"
        type="search"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        placeholder="Search every room on this device"
      />
      {query.trim() && (
        <section aria-label="Search results">
          <p className="muted">{hits.length === 0 ? 'No messages found.' : `${hits.length} found`}</p>
          <ul className="hits">
            {hits.map((hit) => (
              <li key={`${hit.roomId}:${hit.message.id}`}>
                <Link href={`/chat/${encodeURIComponent(hit.roomId)}#${encodeURIComponent(hit.message.id)}`}>
                  {hit.roomName} · {nameOf(hit.roomId, hit.message.author)}: {plainText(hit.message.text)}
                </Link>
              </li>
            ))}
          </ul>
        </section>
      )}
      <h2>Rooms</h2>
      {summaries.length === 0 && <p className="muted">No rooms yet. Create one below, or open an invite link.</p>}
      <ul className="room-list" aria-label="Rooms">
        {summaries.map((s) => (
          <li key={s.roomId}>
            <Link href={`/chat/${encodeURIComponent(s.roomId)}`}>
              <span className="name">{s.name}</span>
              {s.unread > 0 ? (
                <span className="badge" role="status" aria-label={`${s.unread} unread`}>
                  {s.unread}
                </span>
              ) : (
                <span />
              )}
              <span className="preview">
                {s.lastMessage
                  ? `${nameOf(s.roomId, s.lastMessage.author)}: ${plainText(s.lastMessage.text)}`
                  : s.loaded
                    ? 'No messages yet'
                    : '…'}
              </span>
            </Link>
          </li>
        ))}
      </ul>
      <section className="card" style={{ marginTop: 24 }}>
        <h2>Create a room</h2>
        <form onSubmit={create} className="row">
          <div>
            <label htmlFor="room-name">Room name</label>
            <input id="room-name" name="name" required maxLength={100} />
          </div>
          <div>
            <label htmlFor="room-topic">Topic</label>
            <input id="room-topic" name="topic" maxLength={300} />
          </div>
          <button type="submit" className="primary" disabled={creating}>
            Create room
          </button>
        </form>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </section>
    </div>
  );
}
