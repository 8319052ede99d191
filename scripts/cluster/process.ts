import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

import { freePort } from '@confab/platform/testing';

export { freePort };

export function spawnService(spec: ServiceSpec, onLine?: (name: string, line: string) => void): ServiceProcess {
  // One Node process per service (no tsx CLI wrapper), so a kill -9 hits the service itself, not a parent.
  const command = spec.command ?? { file: process.execPath, args: ['--import', 'tsx', mainOf(spec.workspace)] };
  const child: ChildProcess = spawn(command.file, command.args, {
    cwd: path.join(REPO_ROOT, spec.workspace),
    env: asProcessEnv({ ...inheritedEnv(), ...spec.env, PORT: String(spec.port) }),
    stdio: ['ignore', 'pipe', 'pipe'],
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

  return {
    spec,
    pid: child.pid,
    exited,
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

/** Resolves when `GET path` answers 200; rejects with the child's last output when it exits or times out first. */
export async function waitUntilReady(service: ServiceProcess, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const url = `http://127.0.0.1:${service.spec.port}${service.spec.readyPath ?? '/readyz'}`;
  let exitCode: number | null | undefined;
  void service.exited.then((code) => {
    exitCode = code;
  });
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(`${service.spec.name} exited with code ${exitCode} before it was ready:\n${service.tail()}`);
    }
    try {
      const answer = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await answer.arrayBuffer();
      if (answer.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`${service.spec.name} was not ready on ${url} after ${timeoutMs} ms:\n${service.tail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
