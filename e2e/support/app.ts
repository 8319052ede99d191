import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Starts Confab the way the README says, `npm start` (the all-in-one
 * process), on a free port with a temporary DATA_DIR, and stops it with
 * SIGTERM. A client build older than its sources is rebuilt first, so the
 * suite never tests yesterday's bundle.
 */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RunningApp {
  url: string;
  dataDir: string;
  output(): string;
  /** Stops the process (SIGTERM) and starts it again on the same port and DATA_DIR. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

import { productionBuildState } from '@confab/client/build-state';
import { freePort } from '@confab/platform/testing';

export { freePort };

/** Rebuilds the client when its build is missing or older than its sources, its configuration or the protocol it bundles. */
export function ensureFreshClientBuild(): void {
  if (productionBuildState() === 'fresh') return;
  // Another process (a teammate's `npm start`) may be building the same .next: wait for it, then check again.
  for (let attempt = 0; attempt < 3; attempt++) {
    const result = spawnSync('npm', ['run', 'build', '-w', 'client'], { cwd: ROOT, stdio: 'pipe', encoding: 'utf8' });
    if (result.status === 0) return;
    const busy = `${result.stdout}${result.stderr}`.includes('build still in progress');
    if (!busy) throw new Error(`client build failed:\n${result.stdout}\n${result.stderr}`);
    spawnSync('sleep', ['30']);
    if (productionBuildState() === 'fresh') return;
  }
  throw new Error('client build: another build kept .next busy for too long');
}

interface Process {
  exited(): boolean;
  stop(): Promise<void>;
}

/** Spawns `npm start` in its own process group and resolves once /readyz answers 200. */
async function spawnApp(
  port: number,
  dataDir: string,
  log: (chunk: string) => void,
  tail: () => string,
): Promise<Process> {
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn('npm', ['start'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      DATA_DIR: dataDir,
      PUBLIC_URL: url,
      PUSH_ALLOW_PRIVATE_ENDPOINTS: '1',
      NODE_ENV: 'production',
      DATABASE_URL: '',
      NATS_URL: '',
      REDIS_URL: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so stop() reaches npm's child (the server) too.
    detached: true,
  });
  child.stdout?.on('data', (d) => log(String(d)));
  child.stderr?.on('data', (d) => log(String(d)));
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });

  const deadline = Date.now() + 240_000;
  for (;;) {
    if (exited) throw new Error(`npm start exited before it was ready:\n${tail().slice(-4000)}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      process.kill(-child.pid!, 'SIGKILL');
      throw new Error(`npm start was not ready within 240 s:\n${tail().slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    exited: () => exited,
    async stop() {
      if (exited) return;
      process.kill(-child.pid!, 'SIGTERM');
      const killAt = Date.now() + 15_000;
      while (!exited && Date.now() < killAt) await new Promise((r) => setTimeout(r, 100));
      if (!exited) process.kill(-child.pid!, 'SIGKILL');
    },
  };
}

export async function startApp(): Promise<RunningApp> {
  ensureFreshClientBuild();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'confab-e2e-'));
  let output = '';
  const log = (chunk: string) => {
    output += chunk;
  };
  let current = await spawnApp(port, dataDir, log, () => output);
  return {
    url,
    dataDir,
    output: () => output,
    async restart() {
      await current.stop();
      current = await spawnApp(port, dataDir, log, () => output);
    },
    async stop() {
      await current.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
