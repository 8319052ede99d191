import { type InlineToken, tokenize } from '@confab/protocol';
import { Fragment, type ReactNode } from 'react';

function inline(token: InlineToken, key: string): ReactNode {
  switch (token.kind) {
    case 'bold':
      return <strong key={key}>{token.text}</strong>;
    case 'italic':
      return <em key={key}>{token.text}</em>;
    case 'strike':
      return <s key={key}>{token.text}</s>;
    case 'code':
      return <code key={key}>{token.text}</code>;
    case 'link':
      return (
        <a key={key} href={token.href} target="_blank" rel="noopener noreferrer nofollow">
          {token.text}
        </a>
      );
    default:
      return <Fragment key={key}>{token.text}</Fragment>;
  }
}

/** Message text as React elements: the text is never parsed as HTML. */
export function Formatted({ text }: { text: string }) {
  return (
    <>
      {tokenize(text).map((token, i) => {
        const key = `${i}`;
        if (token.kind === 'codeblock') {
          return (
            <pre key={key} className="codeblock" data-lang={token.lang}>
              <code>{token.text}</code>
            </pre>
          );
        }
        if (token.kind === 'quote') {
          return <blockquote key={key}>{token.tokens.map((t, j) => inline(t, `${j}`))}</blockquote>;
        }
        return inline(token, key);
      })}
    </>
  );
}
