import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasProductionBuild, startClient } from './server';

describe('startClient', () => {
  it('refuses to serve production without a build, and says which command makes one', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'confab-client-'));
    try {
      expect(hasProductionBuild(empty)).toBe(false);
      await expect(startClient({ dir: empty })).rejects.toThrow('npm run build -w client');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
