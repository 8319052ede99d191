import { readFile, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { createTestPostgres, needService, SERVICES, uniqueSuffix } from '@confab/platform/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { asciiComments, bundleService, packageName, staysExternal } from '../scripts/bundle';
import { REPO_ROOT, type ServiceProcess, spawnService, waitUntilReady } from '../scripts/cluster/process';

/**
 * The container images run `node dist/main.mjs`, the output of
 * scripts/bundle.ts, with no tsx and no TypeScript sources next to it. This
 * is what can be checked of them without a Docker engine: each service
 * bundles, and the bundles start with plain Node and answer /readyz.
 */
const infra = (await needService('postgres')) && (await needService('nats'));
const WORKSPACES = ['auth-server', 'sync-server', 'notifier'] as const;

/**
 * Inside the workspace's own node_modules (ignored by git), so module
 * resolution walks the same way as from /app/<service>/dist in the image:
 * the workspace's nested node_modules first, then the hoisted ones.
 */
const outfileFor = (workspace: string) =>
  path.join(REPO_ROOT, workspace, 'node_modules', '.cache', 'confab-bundle-test', 'main.mjs');

describe('asciiComments', () => {
  it('replaces each non-ASCII UTF-16 code unit inside line and block comments by one ?', () => {
    const code = 'const a = 1; // caf\u00e9 \u2014 ok\n/* \u2026 \u{1F600} */\nexport { a };\n';
    expect(asciiComments(code)).toBe('const a = 1; // caf? ? ok\n/* ? ?? */\nexport { a };\n');
  });

  it('keeps every line at its length, so the source map still points at the right columns', () => {
    const code = '// \u2014\u2014\nexport const f = () => 1; /* \u00d7 */ export const g = 2;\n';
    const lengths = (text: string) => text.split('\n').map((line) => line.length);
    expect(lengths(asciiComments(code))).toEqual(lengths(code));
  });

  it('leaves strings, template literals and regular expressions as they are', () => {
    const code = 'export const s = "\u2014 // not a comment", t = `\u2026 /* nor this */`, r = /\u00b5s/; // \u00e9\n';
    expect(asciiComments(code)).toBe(
      'export const s = "\u2014 // not a comment", t = `\u2026 /* nor this */`, r = /\u00b5s/; // ?\n',
    );
  });

  it('returns ASCII code unchanged, and refuses what is not JavaScript', () => {
    const code = 'export const a = "plain"; // plain\n';
    expect(asciiComments(code)).toBe(code);
    expect(() => asciiComments('export const = "\u2014";')).toThrow();
  });
});

describe.skipIf(!infra)('the tsx-free service bundles the images run', () => {
  const started: ServiceProcess[] = [];
  const suffix = uniqueSuffix();
  let dropDatabase: (() => Promise<void>) | undefined;

  afterAll(async () => {
    for (const service of started.reverse()) await service.stop();
    await dropDatabase?.();
    const nc = await connect({ servers: SERVICES.nats.url });
    await (await jetstreamManager(nc)).streams.delete(`CONFAB_T_${suffix}`.toUpperCase()).catch(() => false);
    await nc.close();
    for (const workspace of WORKSPACES) {
      const dir = path.dirname(outfileFor(workspace));
      await rm(dir, { recursive: true, force: true });
      // node_modules/.cache too, unless something else keeps files there.
      await rmdir(path.dirname(dir)).catch(() => undefined);
    }
  });

  it('inlines the workspace packages and the JavaScript ones, and leaves native modules and pino as imports', async () => {
    for (const workspace of WORKSPACES) {
      const code = await readFile(await bundleService(workspace, outfileFor(workspace)), 'utf8');
      expect(code, workspace).not.toMatch(/from ["']@confab\//);
      expect(code, workspace).not.toMatch(/["']tsx["']/);
      // One byte per character for V8 (Latin-1), so the source is held at its size, not twice it.
      expect(code, workspace).not.toMatch(/[\u0100-\uffff]/);
      // Every import left is a Node built-in, a package KEEP_EXTERNAL names or a native addon.
      const imported = [
        ...code.matchAll(/^import .* from ["']([^"']+)["'];?$/gm),
        ...code.matchAll(/\bimport\(["']([^"']+)["']\)/g),
      ].map((match) => match[1] ?? '');
      const packages = imported.filter((specifier) => !/^(node:|\.)/.test(specifier)).map(packageName);
      expect(packages, workspace).toContain('pino');
      for (const name of packages) {
        expect(staysExternal(name, path.join(REPO_ROOT, workspace)), `${workspace} imports ${name}`).toBe(true);
      }
    }
  });

  it('starts every service from its bundle with plain node, up to a 200 on /readyz', async () => {
    const database = await createTestPostgres();
    dropDatabase = database.drop;
    const common: Record<string, string> = {
      DATABASE_URL: database.url,
      NATS_URL: SERVICES.nats.url,
      NATS_STREAM: `CONFAB_T_${suffix}`.toUpperCase(),
      NATS_SUBJECT_PREFIX: `t${suffix}`,
      INTERNAL_API_TOKEN: `bundle-test-${suffix}-token`,
      PUBLIC_URL: 'http://localhost:8080',
      LOG_LEVEL: 'warn',
    };
    // The auth server comes first (WORKSPACES' order): the others reach it on the port it reports.
    for (const workspace of WORKSPACES) {
      const service = spawnService({
        name: workspace,
        workspace,
        port: 0,
        command: { file: process.execPath, args: [outfileFor(workspace)] },
        env: {
          ...common,
          DATA_DIR: path.join(path.dirname(outfileFor(workspace)), 'data'),
          SYNC_INSTANCE_ID: 'bundle-1',
        },
      });
      started.push(service);
      const port = await waitUntilReady(service, 60_000);
      if (workspace === 'auth-server') common.AUTH_URL = `http://127.0.0.1:${port}`;
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status, workspace).toBe(200);
    }
  });
});
