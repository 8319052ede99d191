import { describe, expect, it } from 'vitest';
import { plainText, safeHref, tokenize } from './format';

describe('message formatting', () => {
  it('splits bold, italic, code and links into tokens', () => {
    expect(tokenize('a **b** *c* _d_ `e` https://x.org/p.')).toEqual([
      { kind: 'text', text: 'a ' },
      { kind: 'bold', text: 'b' },
      { kind: 'text', text: ' ' },
      { kind: 'italic', text: 'c' },
      { kind: 'text', text: ' ' },
      { kind: 'italic', text: 'd' },
      { kind: 'text', text: ' ' },
      { kind: 'code', text: 'e' },
      { kind: 'text', text: ' ' },
      { kind: 'link', text: 'https://x.org/p', href: 'https://x.org/p' },
      { kind: 'text', text: '.' },
    ]);
  });

  it('keeps HTML as plain text', () => {
    expect(tokenize('<img src=x onerror=alert(1)>')).toEqual([{ kind: 'text', text: '<img src=x onerror=alert(1)>' }]);
  });

  it('never turns javascript: or data: URLs into links', () => {
    expect(safeHref('javascript:alert(1)')).toBeNull();
    expect(safeHref('data:text/html,hi')).toBeNull();
    expect(tokenize('javascript:alert(1)')).toEqual([{ kind: 'text', text: 'javascript:alert(1)' }]);
  });

  it('does not treat underscores inside words as italics', () => {
    expect(tokenize('snake_case_name')).toEqual([{ kind: 'text', text: 'snake_case_name' }]);
  });

  it('does not format inside code spans', () => {
    expect(tokenize('`**not bold**`')).toEqual([{ kind: 'code', text: '**not bold**' }]);
  });
});

describe('struck text', () => {
  it('strikes what is between double tildes, on one line, and nothing else', () => {
    expect(tokenize('was ~~Friday~~ Monday')).toEqual([
      { kind: 'text', text: 'was ' },
      { kind: 'strike', text: 'Friday' },
      { kind: 'text', text: ' Monday' },
    ]);
    expect(tokenize('~one~ and ~~two\nlines~~')).toEqual([{ kind: 'text', text: '~one~ and ~~two\nlines~~' }]);
    expect(tokenize('`~~code~~`')).toEqual([{ kind: 'code', text: '~~code~~' }]);
  });
});

describe('quoted lines', () => {
  it('makes a quote of consecutive lines that start with "> ", formatted inside', () => {
    expect(tokenize('> first **line**\n> second\nmy answer')).toEqual([
      {
        kind: 'quote',
        tokens: [
          { kind: 'text', text: 'first ' },
          { kind: 'bold', text: 'line' },
          { kind: 'text', text: '\nsecond' },
        ],
      },
      { kind: 'text', text: 'my answer' },
    ]);
    expect(tokenize('Before\n>\n> after an empty quoted line')).toEqual([
      { kind: 'text', text: 'Before' },
      { kind: 'quote', tokens: [{ kind: 'text', text: '\nafter an empty quoted line' }] },
    ]);
  });

  it('leaves ">" without a space, and one inside a line or a code block, as typed', () => {
    expect(tokenize('>_< oh no')).toEqual([{ kind: 'text', text: '>_< oh no' }]);
    expect(tokenize('a > b')).toEqual([{ kind: 'text', text: 'a > b' }]);
    expect(tokenize('```\n> not a quote\n```')).toEqual([{ kind: 'codeblock', text: '> not a quote' }]);
  });

  it('keeps HTML inside a quote as text, and links only http(s)', () => {
    expect(tokenize('> <b>x</b> javascript:alert(1) https://x.org')).toEqual([
      {
        kind: 'quote',
        tokens: [
          { kind: 'text', text: '<b>x</b> javascript:alert(1) ' },
          { kind: 'link', text: 'https://x.org', href: 'https://x.org/' },
        ],
      },
    ]);
  });

  it('gives a quote its own lines in plain text, without the marks', () => {
    expect(plainText('> was it ~~you~~?\nyes')).toBe('was it you?\nyes');
  });
});

describe('fenced code blocks', () => {
  it('makes a block of the lines between fences, with the language named after the opening one', () => {
    expect(tokenize('Try:\n```ts\nconst x = 1;\n\nlog(**x**)\n```\nthen *run* it')).toEqual([
      { kind: 'text', text: 'Try:' },
      { kind: 'codeblock', text: 'const x = 1;\n\nlog(**x**)', lang: 'ts' },
      { kind: 'text', text: 'then ' },
      { kind: 'italic', text: 'run' },
      { kind: 'text', text: ' it' },
    ]);
  });

  it('takes a block on one line, and one without a language', () => {
    expect(tokenize('```npm start```')).toEqual([{ kind: 'codeblock', text: 'npm start' }]);
    expect(tokenize('```\nnpm start\nnpm test\n```')).toEqual([{ kind: 'codeblock', text: 'npm start\nnpm test' }]);
  });

  it('leaves an unclosed fence and an empty block as typed', () => {
    expect(tokenize('```\nhalf a block')).toEqual([{ kind: 'text', text: '```\nhalf a block' }]);
    expect(tokenize('a `````` b')).toEqual([{ kind: 'text', text: 'a `````` b' }]);
  });

  it('keeps HTML inside a block as text, and links in it unlinked', () => {
    expect(tokenize('```\n<script>x</script> https://x.org\n```')).toEqual([
      { kind: 'codeblock', text: '<script>x</script> https://x.org' },
    ]);
  });

  it('gives a block its own lines in plain text', () => {
    expect(plainText('Run\n```sh\nnpm start\n```\nthen **open** it')).toBe('Run\nnpm start\nthen open it');
  });
});

describe('plainText', () => {
  it('keeps the words and drops the marks of every format', () => {
    expect(plainText('Hello **Bob**, see https://example.org. It is *very* `npm start` _easy_')).toBe(
      'Hello Bob, see https://example.org. It is very npm start easy',
    );
  });

  it('leaves text without marks, and marks that format nothing, as typed', () => {
    expect(plainText('snake_case_name, 5 * 4 = 20')).toBe('snake_case_name, 5 * 4 = 20');
    expect(plainText('')).toBe('');
  });
});
