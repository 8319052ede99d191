import type * as Y from 'yjs';
import { checkUserDocumentUpdate, filterAwarenessState, RoomGuard, type RoomGuardOptions } from '../guard';
import type { UpdateGuard } from './guard-port';

/**
 * The room schema v1 guard (sync-server/src/guard) behind the pipeline's
 * port. A RoomGuard keeps indexes of its document (built once, then kept
 * current from the document's transactions), so there is one per loaded
 * document, made on its first update and dropped with the document.
 */
export function createConfabGuard(options: RoomGuardOptions = {}): UpdateGuard {
  const guards = new WeakMap<Y.Doc, RoomGuard>();
  return {
    check(doc, document, update, who) {
      if (document.kind === 'user') return checkUserDocumentUpdate(update, who, options);
      let guard = guards.get(doc);
      if (!guard) {
        guard = new RoomGuard(doc, options);
        guards.set(doc, guard);
        doc.once('destroy', () => guard?.destroy());
      }
      return guard.check(update, who);
    },
    filterAwareness(states, userId) {
      for (const [clientId, state] of states) {
        if (!filterAwarenessState(state, userId)) states.delete(clientId);
      }
    },
  };
}
