'use client';

import { firstUnreadId, type ReadMarker, roomMaps, type UserId } from '@confab/protocol';
import { useEffect, useRef, useState } from 'react';
import type * as Y from 'yjs';
import { takeJustJoined } from '../lib/navigation';
import type { DocHandle, DocStatus } from '../lib/sync-client';

export interface UnreadLine {
  /** The message the "New messages" line goes above, or null. */
  above: string | null;
  /**
   * The message the room should open at (the line, when it was placed while the room opened), once:
   * taken only when `shown` says its row is there to scroll to.
   */
  takeScrollTarget(shown: (messageId: string) => boolean): string | null;
  /** The user wrote: the line goes. */
  clear(): void;
  /** The user moved their marker back ("Mark unread"): the line goes where it now says. */
  reshow(): void;
}

/**
 * Where a room's "New messages" line goes: above the first message someone else wrote after the
 * reader's read marker. Decided while the room opens: from the marker of the local copy (loaded
 * before the provider attaches), or a newer one that arrives from the user's other devices, until
 * the room has synced once. Marking read as the room shows moves the marker but not the line,
 * which stays until the user writes or leaves; what comes while they watch gets no line. Coming
 * back to the page draws one above what came while it was hidden (which is not marked read
 * meanwhile). Right after joining through an invite there is none: all of the history is new.
 *
 * Call it before the component's effect that marks the room read: its effects must read the
 * marker before that one moves it. It reads the document, not the rendered list, whose renders
 * are coalesced per frame: the status may say synced a render before the content does.
 */
export function useUnreadLine(
  handle: DocHandle | null,
  { roomId, userId, status, contentVersion, pageVisible }: UnreadLineInputs,
): UnreadLine {
  const [above, setAbove] = useState<string | null>(null);
  const openMarker = useRef<ReadMarker | undefined | 'unset'>('unset');
  const settled = useRef(false);
  const scrollTarget = useRef<string | null>(null);

  useEffect(() => {
    if (!handle) return;
    const reads = roomMaps(handle.doc).reads;
    const onReads = (event: Y.YMapEvent<ReadMarker>) => {
      const came = event.keysChanged.has(userId) && !event.transaction.local ? reads.get(userId) : undefined;
      const known = openMarker.current === 'unset' ? undefined : openMarker.current;
      if (came && !settled.current && (!known || came.at > known.at)) openMarker.current = came;
    };
    reads.observe(onReads);
    return () => reads.unobserve(onReads);
  }, [handle, userId]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `contentVersion` changes with the document
  useEffect(() => {
    if (!handle || settled.current || status === 'loading') return;
    if (takeJustJoined(roomId)) {
      settled.current = true;
      return;
    }
    if (openMarker.current === 'unset') openMarker.current = roomMaps(handle.doc).reads.get(userId);
    const first = firstUnreadId(handle.doc, openMarker.current, userId as UserId);
    setAbove(first);
    // A link that names a message (`#<id>`, a search hit) opens the room there instead.
    if (first !== null && window.location.hash.length <= 1) scrollTarget.current = first;
    if (status === 'synced' || status === 'denied') settled.current = true;
  }, [handle, contentVersion, status, userId, roomId]);

  const wasVisible = useRef(pageVisible);
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the page comes back into view
  useEffect(() => {
    const cameBack = pageVisible && !wasVisible.current;
    wasVisible.current = pageVisible;
    if (!cameBack || !handle || above !== null) return;
    setAbove(firstUnreadId(handle.doc, roomMaps(handle.doc).reads.get(userId), userId as UserId));
  }, [pageVisible]);

  return {
    above,
    takeScrollTarget(shown) {
      const target = scrollTarget.current;
      if (target === null || target !== above || !shown(target)) return null;
      scrollTarget.current = null;
      return target;
    },
    clear() {
      scrollTarget.current = null;
      setAbove(null);
    },
    reshow() {
      scrollTarget.current = null;
      if (handle) setAbove(firstUnreadId(handle.doc, roomMaps(handle.doc).reads.get(userId), userId as UserId));
    },
  };
}

export interface UnreadLineInputs {
  roomId: string;
  userId: string;
  status: DocStatus['kind'] | undefined;
  /** Changes whenever the document's content does (`useDocVersion(handle, { contentOnly: true })`). */
  contentVersion: number;
  pageVisible: boolean;
}
