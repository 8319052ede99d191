import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const packageDir = path.resolve(here, '../..');
const binDir = path.resolve(packageDir, '../node_modules/.bin');
const tsx = path.join(binDir, 'tsx');

export interface RunningProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Runs `src/main.ts` as its own process with exactly the given environment (plus PATH). */
export function spawnMain(env: Record<string, string>): RunningProcess {
  // node_modules/.bin first: its `node` is the pinned Node 24, not the machine's.
  const childEnv: Record<string, string> = { PATH: `${binDir}:${process.env.PATH ?? ''}`, ...env };
  const child = spawn(tsx, ['src/main.ts'], {
    cwd: packageDir,
    // Next's global types (pulled in elsewhere in the workspace) make NODE_ENV required; a child needs none.
    env: childEnv as unknown as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk) => {
    out += String(chunk);
  });
  child.stderr?.on('data', (chunk) => {
    err += String(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}
