import data from 'emojibase-data/en/data.json';

/**
 * The reaction picker's emoji list (Emojibase, English), served by the app itself rather than the
 * CDN the picker asks by default: Confab makes no requests to third parties, and works where they
 * cannot be reached. Rendered once at build time, a static file.
 */
export const dynamic = 'force-static';

export function GET(): Response {
  return Response.json(data);
}
