import messages from 'emojibase-data/en/messages.json';

/** The picker's category names (Emojibase, English); see ../data.json/route.ts. */
export const dynamic = 'force-static';

export function GET(): Response {
  return Response.json(messages);
}
