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
