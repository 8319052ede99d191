import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The client workspace (this file's folder). */
export const CLIENT_DIR = path.dirname(fileURLToPath(import.meta.url));

/** The state of the production build in `dir`: none yet, older than what it is built from, or current. */
export type BuildState = 'missing' | 'stale' | 'fresh';

/**
 * Whether `next build` must run before `next start` can serve this code. The
 * build is stale when any file it is built from (the app's sources, its
 * configuration, the protocol package it bundles) changed after it: after a
 * `git pull`, serving the old build would show the old app against new
 * servers.
 */
export function productionBuildState(dir: string = CLIENT_DIR): BuildState {
  const buildId = path.join(dir, '.next', 'BUILD_ID');
  if (!existsSync(buildId)) return 'missing';
  const sources = ['app', 'components', 'lib', 'public'].map((d) => path.join(dir, d));
  const files = ['next.config.ts', 'proxy.ts', 'package.json'].map((f) => statSync(path.join(dir, f)).mtimeMs);
  const newest = Math.max(
    ...sources.map(newestMtimeMs),
    ...files,
    newestMtimeMs(path.join(dir, '..', 'protocol', 'src')),
  );
  return statSync(buildId).mtimeMs > newest ? 'fresh' : 'stale';
}

/** The newest modification time of the files under `dir` (0 if it does not exist), tests left out. */
function newestMtimeMs(dir: string): number {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === '.next' || entry.name.endsWith('.test.ts')) continue;
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(full) : statSync(full).mtimeMs);
  }
  return newest;
}
