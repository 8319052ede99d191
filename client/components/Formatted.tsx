import { tokenize } from '@confab/protocol';
import { Fragment } from 'react';

/** Message text as React elements: the text is never parsed as HTML. */
export function Formatted({ text }: { text: string }) {
  return (
    <>
      {tokenize(text).map((token, i) => {
        const key = `${i}`;
        switch (token.kind) {
          case 'bold':
            return <strong key={key}>{token.text}</strong>;
          case 'italic':
            return <em key={key}>{token.text}</em>;
          case 'code':
            return <code key={key}>{token.text}</code>;
          case 'codeblock':
            return (
              <pre key={key} className="codeblock" data-lang={token.lang}>
                <code>{token.text}</code>
              </pre>
            );
          case 'link':
            return (
              <a key={key} href={token.href} target="_blank" rel="noopener noreferrer nofollow">
                {token.text}
              </a>
            );
          default:
            return <Fragment key={key}>{token.text}</Fragment>;
        }
      })}
    </>
  );
}
