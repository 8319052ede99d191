// Fails the build when the service worker was not produced: a bundler
// plugin that silently emits no worker would otherwise ship an app that
// does not work offline. Run by `npm run build` after `next build`.
import { existsSync, readFileSync } from 'node:fs';

const candidates = ['.next/server/app/serwist/sw.js.body', '.next/server/app/serwist/sw.js'];
const found = candidates.find((p) => existsSync(p));
if (!found) {
  console.error(`service worker missing: none of ${candidates.join(', ')} exists after next build`);
  process.exit(1);
}
const body = readFileSync(found, 'utf8');
if (!body.includes('/chat/_') || body.length < 1000) {
  console.error(`service worker at ${found} looks wrong (${body.length} bytes, no /chat/_ shell in its precache)`);
  process.exit(1);
}
console.log(`service worker ok: ${found} (${(body.length / 1024).toFixed(1)} KiB)`);
