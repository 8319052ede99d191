/**
 * Simple message formatting: **bold**, *italic* / _italic_, `code`, fenced
 * code blocks (```, optionally naming a language) and http(s) links. Parsed into tokens that the app's components turn into React
 * elements, so message text is never injected as HTML; `plainText` gives the
 * words without the marks, for previews (the room list, notifications, push
 * and email), where the marks would show as they were typed.
 */
export type Token =
  | { kind: 'text'; text: string }
  | { kind: 'bold'; text: string }
  | { kind: 'italic'; text: string }
  | { kind: 'code'; text: string }
  /** A fenced block: kept as typed (no other formatting inside), `lang` as named after the fence. */
  | { kind: 'codeblock'; text: string; lang?: string }
  | { kind: 'link'; text: string; href: string };

const PATTERN =
  /`([^`\n]+)`|\*\*([^*\n]+)\*\*|\*([^*\n]+)\*|(?<![\p{L}\p{N}])_([^_\n]+)_(?![\p{L}\p{N}])|(https?:\/\/[^\s<>"']+)/gu;

/** Only http and https become links: no javascript:, data: or relative URLs from other people's text. */
export function safeHref(raw: string): string | null {
  // Trailing punctuation is almost always sentence punctuation, not part of the URL.
  const trimmed = raw.replace(/[.,;:!?)\]]+$/, '');
  try {
    const url = new URL(trimmed);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * ```lang⏎ … ⏎``` or ```…```: the language is one word on the fence's line; without it the block
 * starts right after the fence. An unclosed fence is text.
 */
const FENCE = /```(?:([\w+#.-]+)?\n)?([\s\S]*?)\n?```/g;

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let last = 0;
  for (const match of text.matchAll(FENCE)) {
    const index = match.index ?? 0;
    const [whole, lang, code = ''] = match;
    if (code.trim() === '') continue;
    // The line breaks around a block are the block's edges, not blank lines of their own.
    inline(text.slice(last, index).replace(/\n$/, ''), tokens);
    tokens.push(lang ? { kind: 'codeblock', text: code, lang } : { kind: 'codeblock', text: code });
    last = index + whole.length;
    if (text[last] === '\n') last++;
  }
  inline(text.slice(last), tokens);
  return tokens;
}

function inline(text: string, tokens: Token[]): void {
  let last = 0;
  const push = (token: Token) => {
    const prev = tokens[tokens.length - 1];
    if (token.kind === 'text' && prev?.kind === 'text') prev.text += token.text;
    else tokens.push(token);
  };
  for (const match of text.matchAll(PATTERN)) {
    const index = match.index ?? 0;
    if (index > last) push({ kind: 'text', text: text.slice(last, index) });
    const [whole, code, bold, italicStar, italicUnderscore, url] = match;
    let consumed = whole.length;
    if (code !== undefined) push({ kind: 'code', text: code });
    else if (bold !== undefined) push({ kind: 'bold', text: bold });
    else if (italicStar !== undefined) push({ kind: 'italic', text: italicStar });
    else if (italicUnderscore !== undefined) push({ kind: 'italic', text: italicUnderscore });
    else if (url !== undefined) {
      const href = safeHref(url);
      if (href) {
        const shown = url.replace(/[.,;:!?)\]]+$/, '');
        consumed = shown.length;
        push({ kind: 'link', text: shown, href });
      } else push({ kind: 'text', text: whole });
    }
    last = index + consumed;
  }
  if (last < text.length) push({ kind: 'text', text: text.slice(last) });
}

/** The text as read, without formatting marks: "**bold** and `code`" → "bold and code". */
export function plainText(text: string): string {
  const tokens = tokenize(text);
  // A block stands on lines of its own, as it did between its fences.
  return tokens
    .map((token, i) =>
      token.kind === 'codeblock' ? `${i > 0 ? '\n' : ''}${token.text}${i < tokens.length - 1 ? '\n' : ''}` : token.text,
    )
    .join('');
}
