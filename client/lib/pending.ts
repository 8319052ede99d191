/**
 * Which of my messages are still pending. The provider only counts unsynced
 * changes per document, so a message written here is pending from the moment
 * it is appended until the document is synced with zero unsynced changes
 * (CONTRACT: an acknowledged update is durable). The ids are persisted so a
 * reload while offline still shows them as pending.
 */
export interface PendingState {
  ids: ReadonlySet<string>;
}

export function addPending(state: PendingState, id: string): PendingState {
  const ids = new Set(state.ids);
  ids.add(id);
  return { ids };
}

/** Clears the pending set once the server has acknowledged everything. */
export function settlePending(state: PendingState, unsyncedChanges: number, synced: boolean): PendingState {
  if (state.ids.size === 0 || unsyncedChanges > 0 || !synced) return state;
  return { ids: new Set() };
}
