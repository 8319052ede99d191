import { type NextRequest, NextResponse } from 'next/server';
import { loadSecurityConfig, type SecurityConfig } from './config';
import { contentSecurityPolicy, newNonce, strictTransportSecurity } from './lib/csp';

let security: SecurityConfig | undefined;

/**
 * Every page gets its own CSP nonce. Next.js reads the nonce from the
 * request's `Content-Security-Policy` header while it renders and puts it on
 * its inline scripts; the root layout reads `x-nonce` for the theme script.
 * Pages are therefore rendered per request (the root layout reads headers()).
 * The service worker's precached shells keep the header and the HTML they were
 * fetched with, so offline pages still match their own nonce.
 */
export function proxy(request: NextRequest) {
  security ??= loadSecurityConfig();
  const nonce = newNonce();
  const policy = contentSecurityPolicy({
    nonce,
    dev: security.NODE_ENV === 'development',
    syncUrl: security.NEXT_PUBLIC_SYNC_URL,
  });
  const requestHeaders = new Headers(request.headers);
  requestHeaders.set('x-nonce', nonce);
  requestHeaders.set('Content-Security-Policy', policy);
  const response = NextResponse.next({ request: { headers: requestHeaders } });
  response.headers.set('Content-Security-Policy', policy);
  const hsts = strictTransportSecurity(security.PUBLIC_URL);
  if (hsts) response.headers.set('Strict-Transport-Security', hsts);
  return response;
}

export const config = {
  matcher: [
    {
      // Pages only: not the built assets, icons, the manifest, nor the service worker
      // script (a worker's CSP comes from its own response and it loads nothing else).
      source:
        '/((?!api/|_next/static|_next/image|serwist/|icons/|manifest.webmanifest|favicon.ico|sync|healthz|readyz|metrics).*)',
      missing: [
        { type: 'header', key: 'next-router-prefetch' },
        { type: 'header', key: 'purpose', value: 'prefetch' },
      ],
    },
  ],
};
