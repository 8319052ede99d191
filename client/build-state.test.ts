import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { productionBuildState } from './build-state';

/** A client workspace (and the protocol package beside it) in a temporary folder, every file at `at`. */
function workspace(at: Date): { client: string; touch: (file: string, when: Date) => void } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'confab-build-state-'));
  roots.push(root);
  const client = path.join(root, 'client');
  const files = [
    'client/app/page.tsx',
    'client/components/Composer.tsx',
    'client/components/Composer.test.ts',
    'client/lib/format.ts',
    'client/public/icon.svg',
    'client/next.config.ts',
    'client/proxy.ts',
    'client/package.json',
    'protocol/src/room.ts',
  ];
  const touch = (file: string, when: Date) => {
    const full = path.join(root, file);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, file);
    utimesSync(full, when, when);
  };
  for (const file of files) touch(file, at);
  return { client, touch };
}
const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

const earlier = new Date('2026-11-01T00:00:00Z');
const built = new Date('2026-11-02T00:00:00Z');
const later = new Date('2026-11-03T00:00:00Z');

describe('productionBuildState', () => {
  it('is missing before the first build', () => {
    const { client } = workspace(earlier);
    expect(productionBuildState(client)).toBe('missing');
  });

  it('is fresh when the build is newer than everything it is built from', () => {
    const { client, touch } = workspace(earlier);
    touch('client/.next/BUILD_ID', built);
    expect(productionBuildState(client)).toBe('fresh');
  });

  it.each([
    'client/components/Composer.tsx',
    'client/app/chat/new-page.tsx',
    'client/lib/format.ts',
    'client/public/icon.svg',
    'client/next.config.ts',
    'client/package.json',
    'protocol/src/room.ts',
  ])('is stale once %s changes after the build (a git pull)', (file) => {
    const { client, touch } = workspace(earlier);
    touch('client/.next/BUILD_ID', built);
    touch(file, later);
    expect(productionBuildState(client)).toBe('stale');
  });

  it('ignores tests, which are not built into the app', () => {
    const { client, touch } = workspace(earlier);
    touch('client/.next/BUILD_ID', built);
    touch('client/components/Composer.test.ts', later);
    expect(productionBuildState(client)).toBe('fresh');
  });
});
