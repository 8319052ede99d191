'use client';

import { useRouter } from 'next/navigation';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { NotificationItem } from '../lib/api';
import { epochMs, relativeTime } from '../lib/relative-time';
import { setTitleUnread } from '../lib/title';
import { useApp } from './AppProvider';

/** How many notifications the panel keeps in memory. */
const KEEP = 30;

const fullTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

/**
 * The notification bell: the latest notifications from the notifier, live
 * over Server-Sent Events, with an unread count. Opening one marks it read
 * and goes to its room; reading the room, here or on another device, marks
 * its notifications read too (the stream's `read` events). Online only:
 * offline the bell shows what it had.
 */
export function Notifications() {
  const { api, user } = useApp();
  const router = useRouter();
  const [items, setItems] = useState<NotificationItem[]>([]);
  const [open, setOpen] = useState(false);
  const panel = useRef<HTMLElement>(null);

  useEffect(() => {
    if (!user) return;
    let cancelled = false;
    const source = new EventSource('/api/notifications/stream');
    // The stream only sends what is created after it starts: load the list once it is
    // ready (and again after each reconnect), so nothing created in between is missed.
    source.addEventListener('ready', () => {
      void api.notifications().then((result) => {
        if (cancelled || !result.ok) return;
        setItems((live) => {
          const known = new Set(result.data.items.map((i) => i.id));
          return [...live.filter((i) => !known.has(i.id)), ...result.data.items].slice(0, KEEP);
        });
      });
    });
    source.addEventListener('notification', (event) => {
      try {
        const item = JSON.parse((event as MessageEvent<string>).data) as NotificationItem;
        setItems((list) => [item, ...list.filter((i) => i.id !== item.id)].slice(0, KEEP));
      } catch {
        // A malformed event is skipped; the next GET brings the list back in step.
      }
    });
    // Items read elsewhere: the room read up to them (here or on another device), or another tab.
    source.addEventListener('read', (event) => {
      try {
        const { ids } = JSON.parse((event as MessageEvent<string>).data) as { ids: string[] };
        const read = new Set(ids);
        const at = Date.now();
        setItems((list) => list.map((i) => (i.readAt === null && read.has(i.id) ? { ...i, readAt: at } : i)));
      } catch {
        // As above.
      }
    });
    return () => {
      cancelled = true;
      source.close();
    };
  }, [api, user]);

  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') setOpen(false);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [open]);

  // "5 minutes ago" moves on while the panel is open.
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!open) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(timer);
  }, [open]);

  const unread = items.filter((i) => i.readAt === null).length;
  useEffect(() => setTitleUnread(unread), [unread]);
  useEffect(() => () => setTitleUnread(0), []);

  const openItem = useCallback(
    async (item: NotificationItem) => {
      setOpen(false);
      if (item.readAt === null) {
        setItems((list) => list.map((i) => (i.id === item.id ? { ...i, readAt: Date.now() } : i)));
        void api.markNotificationsRead({ ids: [item.id] });
      }
      router.push(`/chat/${encodeURIComponent(item.roomId)}`);
    },
    [api, router],
  );

  const markAll = async () => {
    setItems((list) => list.map((i) => (i.readAt === null ? { ...i, readAt: Date.now() } : i)));
    await api.markNotificationsRead({ all: true });
  };

  return (
    <div className="notifications">
      <button
        type="button"
        aria-expanded={open}
        aria-controls="notification-panel"
        aria-label={unread > 0 ? `Notifications, ${unread} unread` : 'Notifications'}
        onClick={() => setOpen((o) => !o)}
      >
        <svg
          aria-hidden="true"
          width="16"
          height="16"
          viewBox="0 0 24 24"
          fill="none"
          stroke="currentColor"
          strokeWidth="2"
        >
          <path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
          <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
        </svg>
        {unread > 0 && <span className="badge">{unread}</span>}
      </button>
      {open && (
        <section id="notification-panel" className="notification-panel" ref={panel} aria-label="Notifications">
          <div className="row" style={{ alignItems: 'center' }}>
            <strong>Notifications</strong>
            {unread > 0 && (
              <button type="button" className="link" onClick={() => void markAll()}>
                Mark all read
              </button>
            )}
          </div>
          {items.length === 0 ? (
            <p className="muted">Nothing yet.</p>
          ) : (
            <ul>
              {items.map((item) => (
                <li key={item.id}>
                  <button
                    type="button"
                    className={item.readAt === null ? 'unread' : ''}
                    onClick={() => void openItem(item)}
                  >
                    <strong>{item.title}</strong>
                    <span>{item.body}</span>
                    <NotificationTime at={epochMs(item.createdAt)} now={now} />
                  </button>
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </div>
  );
}

function NotificationTime({ at, now }: { at: number; now: number }) {
  if (!Number.isFinite(at)) return null;
  return (
    <time className="muted" dateTime={new Date(at).toISOString()} title={fullTime.format(at)}>
      {relativeTime(at, now)}
    </time>
  );
}
