/**
 * `tsx scripts/bundle.ts <workspace>`: compiles a service's `src/main.ts` and
 * the workspace packages it imports (`@confab/*`, TypeScript sources) into one
 * ES module, `<workspace>/dist/main.mjs`, so the container runs plain
 * `node dist/main.mjs`: no tsx, no TypeScript compiler at run time, faster
 * start. Third-party packages written in JavaScript are bundled too: one
 * module instead of a few hundred files costs far less memory (the sync
 * server at rest: 93 MB of RSS against 119 MB with them loaded from
 * node_modules; docs/sync.md, "Seventeenth pass"). The packages in
 * KEEP_EXTERNAL, and native addons (isNativePackage), stay imports and come
 * from node_modules.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Comment, parse } from 'acorn';
import { build } from 'esbuild';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Packages that cannot live inside a bundle, besides the native addons
 * isNativePackage recognises (better-sqlite3, leveldown): argon2, whose
 * binary comes in a per-platform package, optional native helpers their users load with
 * a guarded require (ws's bufferutil and utf-8-validate, pg's pg-native: not
 * installed, so bundling would fail), and pino, which starts its transports
 * (thread-stream, pino-pretty) as worker threads by file name.
 */
export const KEEP_EXTERNAL: ReadonlySet<string> = new Set([
  '@node-rs/argon2',
  'bufferutil',
  'utf-8-validate',
  'pg-native',
  'pino',
  'pino-pretty',
  'thread-stream',
]);

/**
 * Whether the package installed for `resolveDir` is a native addon: it
 * builds with node-gyp (`gypfile`, a binding.gyp) or loads its binary through
 * one of the usual loaders, which find it by file name next to the package
 * (the y-websocket peer of the benchmark pulls in leveldown that way).
 */
export function isNativePackage(name: string, resolveDir: string): boolean {
  const key = `${resolveDir}\0${name}`;
  const known = nativeCache.get(key);
  if (known !== undefined) return known;
  let native = false;
  for (let dir = resolveDir; ; dir = path.dirname(dir)) {
    const root = path.join(dir, 'node_modules', name);
    const manifest = path.join(root, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
        gypfile?: boolean;
        dependencies?: Record<string, string>;
      };
      native =
        pkg.gypfile === true ||
        existsSync(path.join(root, 'binding.gyp')) ||
        NATIVE_LOADERS.some((loader) => pkg.dependencies?.[loader] !== undefined);
      break;
    }
    if (path.dirname(dir) === dir) break;
  }
  nativeCache.set(key, native);
  return native;
}

const NATIVE_LOADERS = ['node-gyp-build', 'bindings', 'prebuild-install', 'node-addon-api'];
const nativeCache = new Map<string, boolean>();

/** Whether the bundle leaves this package an import, as imported from `resolveDir`. */
export function staysExternal(name: string, resolveDir: string): boolean {
  return KEEP_EXTERNAL.has(name) || isNativePackage(name, resolveDir);
}

/** `@scope/name/sub/path` → `@scope/name`, `name/sub` → `name`. */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/**
 * The bundle's JavaScript with every non-ASCII character inside a comment
 * replaced by `?`, one per UTF-16 code unit, so each line keeps its length
 * and the source map stays true. esbuild escapes non-ASCII characters in code
 * (`charset: 'ascii'`, its default) but copies comments as they are, and a
 * module whose source holds a single character past U+00FF is kept by V8 as a
 * two-byte string: the sync server's main chunk (1.1 MB) took 2.2 MB of heap
 * for a `…` or a `—` in a comment (docs/sync.md, "Nineteenth pass"). Anything
 * non-ASCII outside a comment is left alone.
 */
export function asciiComments(code: string): string {
  if (!/[\u0080-\uffff]/.test(code)) return code;
  const comments: Comment[] = [];
  parse(code, { ecmaVersion: 'latest', sourceType: 'module', onComment: comments });
  let out = '';
  let at = 0;
  for (const { start, end } of comments) {
    out += code.slice(at, start) + code.slice(start, end).replace(/[\u0080-\uffff]/g, '?');
    at = end;
  }
  return out + code.slice(at);
}

export async function bundleService(
  workspace: string,
  outfile = path.join(REPO_ROOT, workspace, 'dist', 'main.mjs'),
): Promise<string> {
  return bundleEntry(path.join(REPO_ROOT, workspace, 'src', 'main.ts'), outfile);
}

/**
 * Any TypeScript entry bundled the same way (the benchmark runs its server
 * processes from such a bundle, as the containers run the services). The
 * outfile must lie inside the repository, so the external packages resolve
 * from its node_modules. With `splitting`, each dynamic import becomes a chunk
 * of its own beside the outfile, loaded (with the packages it imports) only
 * when that import runs.
 */
export async function bundleEntry(entry: string, outfile: string, { splitting = false } = {}): Promise<string> {
  const { name, ext } = path.parse(outfile);
  const result = await build({
    write: false,
    entryPoints: [entry],
    ...(splitting
      ? { splitting: true, outdir: path.dirname(outfile), entryNames: name, outExtension: { '.js': ext } }
      : { outfile }),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    sourcemap: 'linked',
    logLevel: 'warning',
    // Some CommonJS dependencies call require(); give the ES module one.
    banner: {
      js: "import { createRequire as __confabRequire } from 'node:module'; const require = __confabRequire(import.meta.url);",
    },
    plugins: [
      {
        name: 'keep-external',
        setup(plugin) {
          // node: built-ins are external on platform 'node' already.
          plugin.onResolve({ filter: /^[^./]/ }, (args) => {
            return staysExternal(packageName(args.path), args.resolveDir)
              ? { path: args.path, external: true }
              : undefined;
          });
        },
      },
    ],
  });
  for (const file of result.outputFiles) {
    mkdirSync(path.dirname(file.path), { recursive: true });
    writeFileSync(file.path, /\.m?js$/.test(file.path) ? asciiComments(file.text) : file.contents);
  }
  return outfile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const workspaces = process.argv.slice(2);
  if (workspaces.length === 0) {
    process.stderr.write('usage: tsx scripts/bundle.ts <workspace>...\n');
    process.exit(2);
  }
  for (const workspace of workspaces) {
    const outfile = await bundleService(workspace);
    process.stdout.write(`${path.relative(REPO_ROOT, outfile)}\n`);
  }
}
