'use client';

import { useRouter } from 'next/navigation';
import { type KeyboardEvent, useEffect, useRef, useState } from 'react';
import { matchRooms } from '../lib/navigation';
import { useApp } from './AppProvider';

/**
 * Ctrl+K (⌘K on a Mac) from any screen: type part of a room's name, arrows to choose, Enter to
 * go there, Escape to leave. A native modal <dialog>: it keeps focus inside and closes on Escape.
 */
export function RoomSwitcher() {
  const { rooms } = useApp();
  const router = useRouter();
  const dialog = useRef<HTMLDialogElement>(null);
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState('');
  const [selected, setSelected] = useState(0);
  const matches = matchRooms(rooms, query);

  useEffect(() => {
    const onKey = (event: globalThis.KeyboardEvent) => {
      if (event.key.toLowerCase() !== 'k' || !(event.ctrlKey || event.metaKey) || event.altKey) return;
      event.preventDefault();
      setQuery('');
      setSelected(0);
      setOpen(true);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  useEffect(() => {
    const element = dialog.current;
    if (open && element && !element.open) element.showModal();
    if (!open && element?.open) element.close();
  }, [open]);

  const go = (roomId: string) => {
    setOpen(false);
    router.push(`/chat/${encodeURIComponent(roomId)}`);
  };
  const keyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const step = event.key === 'ArrowDown' ? 1 : -1;
      setSelected((s) => (matches.length === 0 ? 0 : (s + step + matches.length) % matches.length));
    } else if (event.key === 'Enter') {
      event.preventDefault();
      const room = matches[selected];
      if (room) go(room.id);
    }
  };

  return (
    <dialog ref={dialog} className="switcher" aria-label="Go to a room" onClose={() => setOpen(false)}>
      {open && (
        <>
          <label htmlFor="switcher-query">Go to a room</label>
          <input
            id="switcher-query"
            value={query}
            autoComplete="off"
            role="combobox"
            aria-expanded="true"
            aria-controls="switcher-list"
            aria-activedescendant={matches[selected] ? `switcher-${matches[selected].id}` : undefined}
            onChange={(e) => {
              setQuery(e.target.value);
              setSelected(0);
            }}
            onKeyDown={keyDown}
          />
          <div id="switcher-list" className="switcher-list" role="listbox" aria-label="Rooms">
            {matches.map((room, i) => (
              // Keyboard selection is handled in the input (arrows, Enter), which keeps the focus.
              <div
                key={room.id}
                id={`switcher-${room.id}`}
                role="option"
                tabIndex={-1}
                aria-selected={i === selected}
                onMouseDown={(e) => {
                  e.preventDefault();
                  go(room.id);
                }}
              >
                {room.name}
              </div>
            ))}
          </div>
          {matches.length === 0 && <p className="muted">No room is called that.</p>}
        </>
      )}
    </dialog>
  );
}
