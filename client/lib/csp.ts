/**
 * The web app's Content-Security-Policy and transport headers, as pure
 * functions of their inputs (tested in csp.test.ts; applied per request by
 * `proxy.ts`, which makes a fresh nonce for every page).
 *
 * Scripts run only from this origin or with the page's nonce: Next.js puts
 * the nonce it finds in the request's CSP header on its own inline bootstrap
 * scripts (`self.__next_f.push`, the Turbopack runtime) and the root layout
 * puts it on the theme script. `'strict-dynamic'` lets those trusted scripts
 * load the route's chunks. An injected `<script>` or `onerror=` has no nonce
 * and does not run.
 */

export interface CspOptions {
  /** Base64, fresh per response (see `newNonce`). */
  nonce: string;
  /** `next dev` needs eval (React's error overlay) and unhashed inline styles. */
  dev: boolean;
  /**
   * `NEXT_PUBLIC_SYNC_URL` when the sync WebSocket lives on another origin.
   * Same-origin `ws:`/`wss:` is covered by `'self'` (CSP Level 3; checked by
   * the e2e suite, whose sync socket is same-origin).
   */
  syncUrl?: string | undefined;
}

/** 128 random bits, base64 (a CSP nonce must be unguessable and never repeat). */
export function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}

/** The origin of a `ws(s):`/`http(s):` URL for `connect-src`, or null when it is not one. */
function connectOrigin(url: string | undefined): string | null {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    return ['ws:', 'wss:', 'http:', 'https:'].includes(parsed.protocol) ? `${parsed.protocol}//${parsed.host}` : null;
  } catch {
    return null;
  }
}

export function contentSecurityPolicy({ nonce, dev, syncUrl }: CspOptions): string {
  const sync = connectOrigin(syncUrl);
  const directives: [string, ...string[]][] = [
    ['default-src', "'self'"],
    ['script-src', "'self'", `'nonce-${nonce}'`, "'strict-dynamic'", ...(dev ? ["'unsafe-eval'"] : [])],
    // Next puts the nonce on the inline styles it renders; dev tooling injects styles without one.
    ['style-src', "'self'", dev ? "'unsafe-inline'" : `'nonce-${nonce}'`],
    ['img-src', "'self'", 'data:', 'blob:'],
    ['font-src', "'self'"],
    ['connect-src', "'self'", ...(sync ? [sync] : [])],
    ['worker-src', "'self'"],
    ['manifest-src', "'self'"],
    ['object-src', "'none'"],
    ['base-uri', "'self'"],
    ['form-action', "'self'"],
    ['frame-ancestors', "'none'"],
  ];
  return directives.map((d) => d.join(' ')).join('; ');
}

/** HSTS only when users open the app over https: sent over http it would be ignored, and it must not pin a dev host. */
export function strictTransportSecurity(publicUrl: string | undefined): string | null {
  if (!publicUrl) return null;
  try {
    return new URL(publicUrl).protocol === 'https:' ? 'max-age=31536000; includeSubDomains' : null;
  } catch {
    return null;
  }
}
