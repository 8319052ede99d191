import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isListeningMessage, REPORT_PORT_ENV } from '@confab/platform/listening';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** How long a service may take from spawn to a 200 on /readyz: tsx compiles on first start, on 2 shared cores. */
export const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 10_000;
/** Lines of a child's output kept for the error message when it dies at start. */
const TAIL_LINES = 40;

export interface ServiceSpec {
  /** Unique name in the cluster, e.g. `sync-1`; prefixes its log lines. */
  readonly name: string;
  /** Workspace directory, e.g. `sync-server`. */
  readonly workspace: string;
  /** The port to listen on; 0 lets the service take any free one and report it (see ServiceProcess.port). */
  readonly port: number;
  readonly env: Record<string, string>;
  /** The process command; default: Node with the tsx loader on `<workspace>/src/main.ts`. */
  readonly command?: { file: string; args: string[] };
  /** Path answered with 200 once the service can take traffic. */
  readonly readyPath?: string;
}

export interface ServiceProcess {
  readonly spec: ServiceSpec;
  readonly pid: number | undefined;
  readonly exited: Promise<number | null>;
  /** The port it reported once listening (over IPC, see @confab/platform/listening); rejects if it exits first. */
  readonly listening: Promise<number>;
  /** The port it listens on; throws before it has reported one (after waitUntilReady it has). */
  readonly port: number;
  /** The last lines it printed (stdout and stderr), for diagnostics. */
  tail(): string;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
  /** kill -9: no flush, no goodbye. */
  kill(): Promise<void>;
}

export function mainOf(workspace: string): string {
  return path.join(REPO_ROOT, workspace, 'src', 'main.ts');
}

export function spawnService(spec: ServiceSpec, onLine?: (name: string, line: string) => void): ServiceProcess {
  // One Node process per service (no tsx CLI wrapper), so a kill -9 hits the service itself, not a parent.
  const command = spec.command ?? { file: process.execPath, args: ['--import', 'tsx', mainOf(spec.workspace)] };
  const child: ChildProcess = spawn(command.file, command.args, {
    cwd: path.join(REPO_ROOT, spec.workspace),
    env: asProcessEnv({ ...inheritedEnv(), ...spec.env, PORT: String(spec.port), [REPORT_PORT_ENV]: 'ipc' }),
    // The IPC channel carries one message: the port the service listens on.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const lines: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      lines.push(line);
      if (lines.length > TAIL_LINES) lines.shift();
      onLine?.(spec.name, line);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.once('error', (error) => {
      lines.push(String(error));
      resolve(null);
    });
  });
  let exitedYet = false;
  void exited.then(() => {
    exitedYet = true;
  });
  let port: number | undefined;
  const listening = new Promise<number>((resolve, reject) => {
    child.on('message', (message) => {
      if (isListeningMessage(message)) {
        port = message.port;
        resolve(message.port);
      }
    });
    void exited.then((code) => reject(new Error(`${spec.name} exited with code ${code} before it listened`)));
  });
  // Callers that never wait for it (a service killed at start) must not see an unhandled rejection.
  listening.catch(() => undefined);

  return {
    spec,
    pid: child.pid,
    exited,
    listening,
    get port() {
      if (port === undefined) throw new Error(`${spec.name} has not reported its port yet`);
      return port;
    },
    tail: () => lines.join('\n'),
    async stop() {
      if (exitedYet) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (exitedYet) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * The parent's environment minus what would change a child's behaviour behind
 * our back: every Confab variable is set explicitly by the cluster, and
 * Vitest's own variables would make a child believe it runs inside a test.
 */
function inheritedEnv(): Record<string, string> {
  const skip =
    /^(PORT|DATA_DIR|DATABASE_URL|NATS_URL|REDIS_URL|AUTH_URL|PUBLIC_URL|SMTP_URL|INTERNAL_API_TOKEN|VITEST.*|TEST|NODE_ENV)$/;
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !skip.test(name)) env[name] = value;
  }
  return env;
}

/** Next.js's types (in the same program) make NODE_ENV a required key of ProcessEnv; a child may go without. */
export function asProcessEnv(variables: Record<string, string>): NodeJS.ProcessEnv {
  return Object.assign(Object.create(null) as NodeJS.ProcessEnv, variables);
}

/**
 * Resolves with the service's port once it has reported it and `GET readyPath`
 * there answers 200; rejects with the child's last output when it exits or
 * times out first. Only the port the child itself reported is probed, so a
 * stranger on a port we guessed can never pass for it.
 */
export async function waitUntilReady(service: ServiceProcess, timeoutMs = READY_TIMEOUT_MS): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void service.exited.then((code) => {
    exitCode = code;
  });
  const failure = (why: string) => new Error(`${service.spec.name} ${why}:\n${service.tail()}`);
  let timer: NodeJS.Timeout | undefined;
  const port = await Promise.race([
    service.listening,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(failure(`did not listen within ${timeoutMs} ms`)), timeoutMs);
    }),
  ])
    .catch((error: unknown) => {
      throw exitCode !== undefined ? failure(`exited with code ${exitCode} before it was ready`) : error;
    })
    .finally(() => clearTimeout(timer));
  const url = `http://127.0.0.1:${port}${service.spec.readyPath ?? '/readyz'}`;
  for (;;) {
    if (exitCode !== undefined) throw failure(`exited with code ${exitCode} before it was ready`);
    try {
      const answer = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await answer.arrayBuffer();
      if (answer.ok) return port;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw failure(`was not ready on ${url} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
