import { withSerwist } from '@serwist/turbopack';
import type { NextConfig } from 'next';

// `output: 'standalone'` is for container images (ops). It is opt-in, because
// the all-in-one process serves this app through `next()` from `.next/`, and
// a standalone build is meant to be run by its own generated server.js.
const standalone = process.env.NEXT_OUTPUT === 'standalone';

const nextConfig: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  transpilePackages: ['@confab/protocol'],
  // Server-side rendering takes yjs from node_modules instead of a bundled copy: in the all-in-one
  // process the sync server has already imported it, and a second copy makes Yjs warn at startup
  // ("Yjs was already imported"), its constructor checks failing across the two copies.
  serverExternalPackages: ['yjs'],
  ...(standalone ? { output: 'standalone' as const } : {}),
  async headers() {
    return [
      {
        source: '/:path*',
        headers: [
          { key: 'X-Content-Type-Options', value: 'nosniff' },
          { key: 'Referrer-Policy', value: 'same-origin' },
          // No page may be framed (clickjacking); CSP frame-ancestors says the same to current browsers,
          // this to older ones. The per-page Content-Security-Policy is set in proxy.ts (it needs a nonce).
          { key: 'X-Frame-Options', value: 'DENY' },
        ],
      },
    ];
  },
};

export default withSerwist(nextConfig);
