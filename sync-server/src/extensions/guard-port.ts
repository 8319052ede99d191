import type { ChatMessage, ParsedDocument, Role } from '@confab/protocol';
import type { Connection } from '@hocuspocus/server';
import type * as Y from 'yjs';

/**
 * What the update pipeline needs from the update guard (sync-server/src/guard,
 * written apart). Kept as a port so the pipeline's tests can run with a
 * pass-through guard and the guard's tests need no server.
 */
export interface RoomChanges {
  created: ChatMessage[];
  edited: { messageId: string; authorId: string; text: string; editedAt: number }[];
  deleted: { messageId: string; authorId: string; deletedBy: string }[];
  reads: { userId: string; messageId: string; at: number }[];
  reactions: { key: string; on: boolean }[];
}

export type GuardVerdict = { ok: true; changes: RoomChanges } | { ok: false; rule: string; detail: string };

export interface UpdateGuard {
  /** Checks one incoming update against the document as it is now, before it is applied. Pure: no side effects. */
  check(
    doc: Y.Doc,
    document: ParsedDocument,
    update: Uint8Array,
    who: { readonly userId: string; readonly role: Role },
  ): GuardVerdict;
  /**
   * Optional: a client's catch-up (sync step 2) without the changes of other users it carries, which
   * it can hold only because the server relayed them before it lost them (a failed commit, a crash);
   * their authors send them again. `lostOwners` names the users behind Yjs clients whose updates
   * this server failed to store, which the document cannot tell. Returns `update` itself when there
   * is nothing to leave out.
   */
  ownPart?(
    doc: Y.Doc,
    document: ParsedDocument,
    update: Uint8Array,
    who: { readonly userId: string; readonly role: Role },
    lostOwners?: ReadonlyMap<number, string>,
  ): Uint8Array;
  /**
   * Optional: builds whatever the guard keeps per document while it is being
   * loaded (before any update can arrive), as `steps` its caller spreads over
   * event-loop turns. Without it the guard builds on its first check.
   * `retiredMessageIds`: the ids of the document's messages deleted so far,
   * from storage (the document's state keeps nothing of them).
   */
  prepare?(doc: Y.Doc, document: ParsedDocument, retiredMessageIds?: readonly string[]): Iterable<void>;
  /**
   * Drops, in place, awareness states that claim to be someone other than the
   * connection's user or, given the connection, that are for a client id
   * another connection introduced (docs/security.md, "Known gaps" 2).
   */
  filterAwareness(states: Map<number, Record<string, unknown>>, userId: string, connection?: Connection): void;
}

export const NO_CHANGES: RoomChanges = Object.freeze({
  created: [],
  edited: [],
  deleted: [],
  reads: [],
  reactions: [],
}) as unknown as RoomChanges;
