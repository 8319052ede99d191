import { describe, expect, it } from 'vitest';
import { safeHref, tokenize } from './format';

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
