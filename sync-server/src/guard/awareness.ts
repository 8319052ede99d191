/**
 * Awareness (presence and typing) is not part of the room document, so the
 * update guard does not see it. The server relays a client's awareness state
 * only when this returns true: the state must describe the connection's own
 * user, in the v1 shape `{user: {id, displayName}, typing}`, so nobody can
 * appear as someone else or smuggle extra fields to other clients.
 *
 * `typing` may be absent and then means false: y-protocols clients set the
 * state field by field (`setLocalStateField('user', …)` then `'typing'`), and
 * dropping the first of those two states would hide a user who is present.
 *
 * `null` is how a client says "I left" (y-protocols removes the state); it is
 * kept, because dropping it would leave a ghost in everyone's presence list.
 */
export const MAX_DISPLAY_NAME_CHARS = 100;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const hasExactly = (obj: Record<string, unknown>, keys: readonly string[]) => {
  const own = Object.keys(obj);
  return own.length === keys.length && keys.every((k) => Object.hasOwn(obj, k));
};

export function filterAwarenessState(state: unknown, userId: string): boolean {
  if (state === null) return true;
  if (!isPlainObject(state)) return false;
  if (!hasExactly(state, ['user', 'typing']) && !hasExactly(state, ['user'])) return false;
  if (state.typing !== undefined && typeof state.typing !== 'boolean') return false;
  const user = state.user;
  if (!isPlainObject(user) || !hasExactly(user, ['id', 'displayName'])) return false;
  if (user.id !== userId) return false;
  const name = user.displayName;
  if (typeof name !== 'string') return false;
  const length = [...name].length;
  return length >= 1 && length <= MAX_DISPLAY_NAME_CHARS;
}

/** A tab has one awareness client id per document; a few more cover reconnects. */
export const MAX_AWARENESS_CLIENTS_PER_CONNECTION = 4;

/**
 * How many released client ids a document remembers the user of. Every
 * connection adds at most MAX_AWARENESS_CLIENTS_PER_CONNECTION; the oldest are
 * forgotten first, so a long-lived room does not grow without bound.
 */
export const MAX_RELEASED_AWARENESS_CLIENTS = 10_000;

/**
 * Who may send awareness entries for which Yjs client id, in one loaded
 * document (docs/security.md, "Known gaps" 2). Awareness entries carry a
 * clock, and every copy keeps only the highest clock it saw per client id, so
 * an entry sent for someone else's id with a huge clock would hide their own
 * later updates until the room reloads. Hence:
 *
 * - a client id belongs to the first connection that sent a state for it;
 *   only that connection's entries for it pass, `null` (leave) included;
 * - a connection claims at most MAX_AWARENESS_CLIENTS_PER_CONNECTION ids;
 * - when the connection closes the id is released, but only for the same
 *   user: the tab that reconnects keeps its client id (a Y.Doc keeps it for
 *   its lifetime), and nobody else can take it over while the tab is away,
 *   which would leave the clock poisoned for its return.
 *
 * `C` is whatever identifies a connection (Hocuspocus's `Connection` in the
 * server, plain objects in tests).
 */
export class AwarenessOwners<C> {
  /** In claim order, so the oldest released ids are forgotten first. */
  private readonly owners = new Map<number, { connection: C | null; userId: string }>();
  private readonly byConnection = new Map<C, Set<number>>();
  private released = 0;

  /**
   * Whether this entry may pass; an unowned id with a state is claimed by the
   * connection. `heldElsewhere` says whether the document shows a state for the
   * id that no connection here introduced: with several instances, one that
   * arrived through Redis from a tab connected to another instance.
   */
  admit(
    clientId: number,
    state: unknown,
    who: { readonly connection: C; readonly userId: string },
    heldElsewhere: (clientId: number) => boolean = () => false,
  ): boolean {
    const { connection, userId } = who;
    const owner = this.owners.get(clientId);
    if (owner?.connection === connection) return true;
    if (owner && (owner.connection !== null || owner.userId !== userId)) return false;
    // A `null` removes an entry: there is nothing of this connection's to remove under an id it does not hold.
    if (state === null) return false;
    if (heldElsewhere(clientId)) return false;
    let mine = this.byConnection.get(connection);
    if (!mine) {
      mine = new Set();
      this.byConnection.set(connection, mine);
    }
    if (mine.size >= MAX_AWARENESS_CLIENTS_PER_CONNECTION) return false;
    mine.add(clientId);
    if (owner) {
      this.owners.delete(clientId);
      this.released -= 1;
    }
    this.owners.set(clientId, { connection, userId });
    return true;
  }

  /** The client ids the connection holds now. */
  heldBy(connection: C): number[] {
    return [...(this.byConnection.get(connection) ?? [])];
  }

  /** The connection closed: its ids stay reserved for its user's next connection. Returns the ids it held. */
  release(connection: C): number[] {
    const mine = this.byConnection.get(connection);
    if (!mine) return [];
    this.byConnection.delete(connection);
    for (const clientId of mine) {
      const owner = this.owners.get(clientId);
      if (owner?.connection !== connection) continue;
      owner.connection = null;
      this.released += 1;
    }
    if (this.released > MAX_RELEASED_AWARENESS_CLIENTS) {
      for (const [clientId, owner] of this.owners) {
        if (this.released <= MAX_RELEASED_AWARENESS_CLIENTS) break;
        if (owner.connection !== null) continue;
        this.owners.delete(clientId);
        this.released -= 1;
      }
    }
    return [...mine];
  }
}

/**
 * Drops, in place, the entries of one incoming awareness update that the
 * connection may not send: a state not in the v1 shape or not its user's
 * (filterAwarenessState), or an id it does not hold and may not claim
 * (AwarenessOwners). The shape is checked first, so a refused state claims nothing.
 */
export function filterAwarenessStates<C>(
  states: Map<number, unknown>,
  who: { readonly connection: C; readonly userId: string },
  owners: AwarenessOwners<C>,
  heldElsewhere?: (clientId: number) => boolean,
): void {
  for (const [clientId, state] of states) {
    const keep = filterAwarenessState(state, who.userId) && owners.admit(clientId, state, who, heldElsewhere);
    if (!keep) states.delete(clientId);
  }
}
