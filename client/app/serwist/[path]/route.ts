import { randomUUID } from 'node:crypto';
import { createSerwistRoute } from '@serwist/turbopack';

// The page shells answer offline navigations (see app/sw.ts). The route is
// force-static, so this module runs once per `next build`: a fresh revision
// per build makes a new worker re-fetch shells that point at the new chunks.
const revision = randomUUID();

export const { dynamic, dynamicParams, revalidate, generateStaticParams, GET } = createSerwistRoute({
  swSrc: 'app/sw.ts',
  useNativeEsbuild: true,
  additionalPrecacheEntries: ['/chat', '/chat/_', '/invite/_', '/login', '/register', '/profile'].map((url) => ({
    url,
    revision,
  })),
});
