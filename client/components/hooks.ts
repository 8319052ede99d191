'use client';

import type { DocumentName } from '@confab/protocol';
import { usePathname } from 'next/navigation';
import { useEffect, useState, useSyncExternalStore } from 'react';
import type { DocHandle } from '../lib/sync-client';
import { useApp } from './AppProvider';

/** Opens a document for as long as the component is mounted. */
export function useDocHandle(name: DocumentName | null): DocHandle | null {
  const { sync } = useApp();
  const [handle, setHandle] = useState<DocHandle | null>(null);
  useEffect(() => {
    if (!sync || !name) {
      setHandle(null);
      return;
    }
    const h = sync.open(name);
    setHandle(h);
    return () => {
      setHandle(null);
      h.release();
    };
  }, [sync, name]);
  return handle;
}

/**
 * A counter that changes whenever the document, its status, pending set or
 * awareness changes (with `contentOnly`, only when the document does). Bursts of updates (a sync of 50,000 messages) are
 * coalesced into one render per animation frame.
 */
export function useDocVersion(handle: DocHandle | null, { contentOnly = false } = {}): number {
  const [version, setVersion] = useState(0);
  useEffect(() => {
    if (!handle) return;
    let frame = 0;
    const bump = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setVersion((v) => v + 1);
      });
    };
    handle.doc.on('update', bump);
    // Status, pending and awareness (typing) changes; a 50,000-message list need not recompute for those.
    const unsubscribe = contentOnly ? () => {} : handle.subscribe(bump);
    void handle.whenLoaded.then(bump);
    return () => {
      if (frame) cancelAnimationFrame(frame);
      handle.doc.off('update', bump);
      unsubscribe();
    };
  }, [handle, contentOnly]);
  return version;
}

export function useOnline(): boolean {
  return useSyncExternalStore(
    (onChange) => {
      window.addEventListener('online', onChange);
      window.addEventListener('offline', onChange);
      return () => {
        window.removeEventListener('online', onChange);
        window.removeEventListener('offline', onChange);
      };
    },
    () => navigator.onLine,
    () => true,
  );
}

/**
 * A path segment read from the real URL. Offline, the service worker answers
 * /chat/<roomId> with the prerendered /chat/_ shell, whose route params say
 * `_`; the address bar still holds the real id.
 */
export function usePathSegment(index: number): string | null {
  const pathname = usePathname();
  const [segment, setSegment] = useState<string | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-read on every client navigation
  useEffect(() => {
    const raw = window.location.pathname.split('/')[index];
    setSegment(raw ? decodeURIComponent(raw) : null);
  }, [pathname, index]);
  return segment;
}

/** Whether the page is visible: the read marker only moves for messages the user can actually see. */
export function usePageVisible(): boolean {
  return useSyncExternalStore(
    (onChange) => {
      document.addEventListener('visibilitychange', onChange);
      return () => document.removeEventListener('visibilitychange', onChange);
    },
    () => document.visibilityState === 'visible',
    () => true,
  );
}
