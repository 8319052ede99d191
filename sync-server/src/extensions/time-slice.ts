/** One turn of the event loop: lets I/O and other rooms' messages in. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs a stepwise job (each `next()` one bounded piece of work), giving the
 * event loop a turn whenever `sliceMs` have passed since the last one, so a
 * long job (a large room's load) delays other rooms by about `sliceMs` at a
 * time instead of by its whole length. A job that fits in one slice runs to
 * the end in the current turn, as if it were synchronous.
 */
export async function runSliced(
  steps: Iterable<void>,
  sliceMs = 10,
  now: () => number = () => performance.now(),
): Promise<void> {
  let sliceStart = now();
  for (const _ of steps) {
    if (now() - sliceStart < sliceMs) continue;
    await nextTurn();
    sliceStart = now();
  }
}
