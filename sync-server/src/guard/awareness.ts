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
