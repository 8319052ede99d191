import { describe, expect, it } from 'vitest';
import { safeNext } from './navigation';

describe('after sign-in', () => {
  it('returns to the page the user wanted, such as an invite', () => {
    expect(safeNext('/invite/abc')).toBe('/invite/abc');
  });

  it('never follows a next parameter to another site', () => {
    expect(safeNext('https://evil.example/')).toBe('/chat');
    expect(safeNext('//evil.example/')).toBe('/chat');
    expect(safeNext('/\\evil.example')).toBe('/chat');
    expect(safeNext(null)).toBe('/chat');
  });
});
