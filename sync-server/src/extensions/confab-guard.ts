import type { Connection } from '@hocuspocus/server';
import { removeAwarenessStates } from 'y-protocols/awareness';
import type * as Y from 'yjs';
import { checkUserDocumentUpdate, filterAwarenessState, RoomGuard, type RoomGuardOptions } from '../guard';
import { AwarenessOwners, filterAwarenessStates } from '../guard/awareness';
import type { UpdateGuard } from './guard-port';

/**
 * The room schema v1 guard (sync-server/src/guard) behind the pipeline's
 * port. A RoomGuard keeps indexes of its document (built once, then kept
 * current from the document's transactions), so there is one per loaded
 * document, built in steps while the room loads (or on its first update)
 * and dropped with the document.
 */
export function createConfabGuard(options: RoomGuardOptions = {}): UpdateGuard {
  const guards = new WeakMap<Y.Doc, RoomGuard>();
  // Who introduced which awareness client id, per loaded document; dropped with it.
  const presence = new WeakMap<Y.Doc, AwarenessOwners<Connection>>();
  const watched = new WeakSet<Connection>();
  const keep = (doc: Y.Doc, guard: RoomGuard) => {
    guards.set(doc, guard);
    doc.once('destroy', () => guard.destroy());
  };
  return {
    check(doc, document, update, who) {
      if (document.kind === 'user') return checkUserDocumentUpdate(update, who, options);
      let guard = guards.get(doc);
      if (!guard) {
        guard = new RoomGuard(doc, options);
        keep(doc, guard);
      }
      return guard.check(update, who);
    },
    ownPart(doc, document, update, who, lostOwners) {
      const guard = document.kind === 'room' ? guards.get(doc) : undefined;
      return guard ? guard.ownPart(update, who, lostOwners) : update;
    },
    // Built while the room loads, in steps: at 100k messages the index costs ~40–90 ms, which would
    // otherwise block every room at once, on the first writer's update (docs/sync.md, "Large rooms").
    *prepare(doc, document, retiredMessageIds) {
      if (document.kind !== 'room' || guards.has(doc)) return;
      const { guard, steps } = RoomGuard.stepwise(doc, options, undefined, retiredMessageIds);
      yield* steps;
      keep(doc, guard);
    },
    filterAwareness(states, userId, connection) {
      if (!connection) {
        for (const [clientId, state] of states) {
          if (!filterAwarenessState(state, userId)) states.delete(clientId);
        }
        return;
      }
      const document = connection.document;
      // A message still queued behind the connection's close: it can claim nothing any more.
      if (!document.hasConnection(connection)) {
        states.clear();
        return;
      }
      let owners = presence.get(document);
      if (!owners) {
        owners = new AwarenessOwners();
        presence.set(document, owners);
      }
      // Entries from other instances arrive through Redis without a connection and are applied
      // unchecked (they were checked where their tab is connected), so such an id is not free here.
      const shown = document.awareness.getStates();
      filterAwarenessStates(states, { connection, userId }, owners, (clientId) => shown.has(clientId));
      if (watched.has(connection) || owners.heldBy(connection).length === 0) return;
      watched.add(connection);
      const held = owners;
      // Runs after Hocuspocus removed the states it tracked for the connection. It tracks only ids
      // the connection added, not one a reconnected tab took back (that is an update of a known id),
      // so whatever the connection still holds is removed here: the tab leaves for everyone.
      connection.onClose(() => {
        const left = held.release(connection).filter((clientId) => document.awareness.getStates().has(clientId));
        if (left.length > 0) removeAwarenessStates(document.awareness, left, null);
      });
    },
  };
}
