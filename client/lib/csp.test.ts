import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy, newNonce, strictTransportSecurity } from './csp';

function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy.split(';').map((part) => {
      const [name, ...values] = part.trim().split(/\s+/);
      return [name!, values];
    }),
  );
}

describe('content security policy', () => {
  const production = directives(contentSecurityPolicy({ nonce: 'abc123==', dev: false }));

  it('lets scripts run only from the origin or with the response nonce, never inline or eval', () => {
    const scripts = production.get('script-src')!;
    expect(scripts).toContain("'self'");
    expect(scripts).toContain("'nonce-abc123=='");
    expect(scripts).not.toContain("'unsafe-inline'");
    expect(scripts).not.toContain("'unsafe-eval'");
    expect(production.get('style-src')).toEqual(["'self'", "'nonce-abc123=='"]);
  });

  it('forbids framing, plugins, base and form hijacking', () => {
    expect(production.get('frame-ancestors')).toEqual(["'none'"]);
    expect(production.get('object-src')).toEqual(["'none'"]);
    expect(production.get('base-uri')).toEqual(["'self'"]);
    expect(production.get('form-action')).toEqual(["'self'"]);
    expect(production.get('default-src')).toEqual(["'self'"]);
    expect(production.get('img-src')).toEqual(["'self'", 'data:', 'blob:']);
    expect(production.get('worker-src')).toEqual(["'self'"]);
    expect(production.get('manifest-src')).toEqual(["'self'"]);
  });

  it('connects only to its own origin unless the sync socket is built to live elsewhere', () => {
    expect(production.get('connect-src')).toEqual(["'self'"]);
    const elsewhere = directives(
      contentSecurityPolicy({ nonce: 'n', dev: false, syncUrl: 'wss://sync.example:8443/sync?x=1' }),
    );
    expect(elsewhere.get('connect-src')).toEqual(["'self'", 'wss://sync.example:8443']);
    const bogus = directives(contentSecurityPolicy({ nonce: 'n', dev: false, syncUrl: "javascript:'x' *" }));
    expect(bogus.get('connect-src')).toEqual(["'self'"]);
  });

  it('allows eval and inline styles only for the dev server', () => {
    const dev = directives(contentSecurityPolicy({ nonce: 'n', dev: true }));
    expect(dev.get('script-src')).toContain("'unsafe-eval'");
    expect(dev.get('style-src')).toEqual(["'self'", "'unsafe-inline'"]);
  });

  it('makes a different unguessable nonce every time', () => {
    const nonces = new Set(Array.from({ length: 100 }, () => newNonce()));
    expect(nonces.size).toBe(100);
    for (const nonce of nonces) expect(Buffer.from(nonce, 'base64').length).toBe(16);
  });
});

describe('strict transport security', () => {
  it('is sent only when the public URL is https', () => {
    expect(strictTransportSecurity('https://chat.example')).toMatch(/^max-age=\d+/);
    expect(strictTransportSecurity('http://localhost:3000')).toBeNull();
    expect(strictTransportSecurity(undefined)).toBeNull();
    expect(strictTransportSecurity('not a url')).toBeNull();
  });
});
