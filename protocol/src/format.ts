/**
 * Simple message formatting: **bold**, *italic* / _italic_, ~~struck~~, `code`,
 * fenced code blocks (```, optionally naming a language), quoted lines (`> `)
 * and http(s) links. Parsed into tokens that the app's components turn into React
 * elements, so message text is never injected as HTML; `plainText` gives the
 * words without the marks, for previews (the room list, notifications, push
 * and email), where the marks would show as they were typed.
 */
export type InlineToken =
  | { kind: 'text'; text: string }
  | { kind: 'bold'; text: string }
  | { kind: 'italic'; text: string }
  | { kind: 'strike'; text: string }
  | { kind: 'code'; text: string }
  | { kind: 'link'; text: string; href: string };

export type Token =
  | InlineToken
  /** A fenced block: kept as typed (no other formatting inside), `lang` as named after the fence. */
  | { kind: 'codeblock'; text: string; lang?: string }
  /** Consecutive lines that start with `> `, without those marks; formatted inside as any text. */
  | { kind: 'quote'; tokens: InlineToken[] };

const PATTERN =
  /`([^`\n]+)`|\*\*([^*\n]+)\*\*|\*([^*\n]+)\*|(?<![\p{L}\p{N}])_([^_\n]+)_(?![\p{L}\p{N}])|~~([^~\n]+)~~|(https?:\/\/[^\s<>"']+)/gu;

/** A quoted line: `>` then a space (or nothing), so that `>_<` and `>>=` stay as typed. */
const QUOTED = /^>(?: |$)/;

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
    lines(text.slice(last, index).replace(/\n$/, ''), tokens);
    tokens.push(lang ? { kind: 'codeblock', text: code, lang } : { kind: 'codeblock', text: code });
    last = index + whole.length;
    if (text[last] === '\n') last++;
  }
  lines(text.slice(last), tokens);
  return tokens;
}

/** Text outside code blocks: runs of quoted lines become quotes, the rest inline formatting. */
function lines(text: string, tokens: Token[]): void {
  if (!text.includes('>')) {
    inline(text, tokens);
    return;
  }
  const all = text.split('\n');
  let plain: string[] = [];
  for (let i = 0; i < all.length; ) {
    if (!QUOTED.test(all[i]!)) {
      plain.push(all[i]!);
      i++;
      continue;
    }
    const quoted: string[] = [];
    while (i < all.length && QUOTED.test(all[i]!)) quoted.push(all[i++]!.replace(QUOTED, ''));
    // As around a code block, the line breaks at a quote's edges are its edges.
    if (plain.length > 0) inline(plain.join('\n'), tokens);
    plain = [];
    const inner: Token[] = [];
    inline(quoted.join('\n'), inner);
    tokens.push({ kind: 'quote', tokens: inner as InlineToken[] });
  }
  if (plain.length > 0) inline(plain.join('\n'), tokens);
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
    const [whole, code, bold, italicStar, italicUnderscore, strike, url] = match;
    let consumed = whole.length;
    if (code !== undefined) push({ kind: 'code', text: code });
    else if (bold !== undefined) push({ kind: 'bold', text: bold });
    else if (italicStar !== undefined) push({ kind: 'italic', text: italicStar });
    else if (italicUnderscore !== undefined) push({ kind: 'italic', text: italicUnderscore });
    else if (strike !== undefined) push({ kind: 'strike', text: strike });
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
  // A block stands on lines of its own, as it did between its fences (or as its quoted lines did).
  return tokens
    .map((token, i) => {
      if (token.kind !== 'codeblock' && token.kind !== 'quote') return token.text;
      const body = token.kind === 'quote' ? token.tokens.map((t) => t.text).join('') : token.text;
      return `${i > 0 ? '\n' : ''}${body}${i < tokens.length - 1 ? '\n' : ''}`;
    })
    .join('');
}
