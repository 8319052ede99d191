import { describe, expect, it } from 'vitest';
import { pageTitle } from './title';

describe('pageTitle', () => {
  it('puts the unread count first and the page before the app name', () => {
    expect(pageTitle('Design', 3)).toBe('(3) Design · Confab');
    expect(pageTitle(null, 12)).toBe('(12) Confab');
  });

  it('says nothing of unread when there is none, and only the app name without a page', () => {
    expect(pageTitle('Design', 0)).toBe('Design · Confab');
    expect(pageTitle(null, 0)).toBe('Confab');
  });
});
