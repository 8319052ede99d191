import { metrics } from '../../lib/ops';

/** See lib/ops.ts. Evaluated per request, never prerendered at build time. */
export const dynamic = 'force-dynamic';
export const GET = metrics;
