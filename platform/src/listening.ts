/**
 * How a service tells the process that spawned it which port it listens on.
 *
 * A parent that picks a "free" port and hands it to a child races every other
 * process on the machine: between the probe and the child's `listen()`,
 * someone else may take the port, the child dies with EADDRINUSE, and the
 * parent's readiness probe is answered by the stranger. So the cluster starts
 * its services with `PORT=0` and an IPC channel, and each one, once it
 * listens, reports the port the kernel gave it. Only when the parent asked
 * for it (`CONFAB_REPORT_PORT=ipc`): a Vitest worker also has an IPC channel,
 * and a message it does not expect must not reach it.
 *
 * Its own module, free of dependencies, so the web app's server can import it
 * without loading the rest of the platform.
 */

export const REPORT_PORT_ENV = 'CONFAB_REPORT_PORT';

export interface ListeningMessage {
  readonly type: 'confab:listening';
  readonly port: number;
}

export function isListeningMessage(message: unknown): message is ListeningMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === 'confab:listening' &&
    Number.isInteger((message as { port?: unknown }).port)
  );
}

/** Reports `port` to the parent when it asked for it; a no-op otherwise. */
export function announceListening(port: number, env: Record<string, string | undefined> = process.env): void {
  if (env[REPORT_PORT_ENV] !== 'ipc' || typeof process.send !== 'function') return;
  const message: ListeningMessage = { type: 'confab:listening', port };
  // A parent that has gone away is not this process's problem: it serves on regardless.
  process.send(message, undefined, {}, () => {});
  // The channel must not keep the process alive once everything else has stopped.
  process.channel?.unref();
}
