import data from 'emojibase-data/en/data.json';
import github from 'emojibase-data/en/shortcodes/github.json';
import { shortcodeTable } from '../../../../lib/emoji-shortcodes';

/**
 * The composer's `:shortcode:` completion: GitHub's (and so Slack's and Zulip's, mostly) names of
 * every emoji, as `[shortcode, emoji]` pairs in Emojibase's order. Served by the app like the
 * picker's data (see ../data.json/route.ts), rendered once at build time.
 */
export const dynamic = 'force-static';

export function GET(): Response {
  return Response.json(shortcodeTable(data, github));
}
