import { describe, expect, it } from 'vitest';
import { MAX_PUSH_PAYLOAD_BYTES, pushPayload, renderDigest, truncate } from './content';
import { unsubscribeToken, verifyUnsubscribeToken } from './unsubscribe';

describe('content', () => {
  it('keeps a push payload under 3 KB however long the text', () => {
    const json = pushPayload({
      title: 'T'.repeat(5000),
      body: '€'.repeat(4000),
      roomId: 'r',
      messageId: 'm',
      url: 'https://x/chat/r',
    });
    expect(Buffer.byteLength(json)).toBeLessThan(MAX_PUSH_PAYLOAD_BYTES);
    expect(JSON.parse(json)).toMatchObject({ roomId: 'r', messageId: 'm', url: 'https://x/chat/r' });
  });

  it('truncates by characters, not UTF-16 units, and marks the cut', () => {
    expect(truncate('😀😀😀', 2)).toBe('😀…');
    expect(truncate('short', 10)).toBe('short');
  });

  it('groups a digest by room and escapes everything in the HTML', () => {
    const digest = renderDigest(
      [
        { roomId: 'r1', roomName: '<Ops>', title: 'Ann in <Ops>', body: '<script>x</script>', createdAt: 2 },
        { roomId: 'r2', roomName: 'Tea', title: 'Bo in Tea', body: 'hi & bye', createdAt: 1 },
        { roomId: 'r1', roomName: '<Ops>', title: 'Cy in <Ops>', body: 'second', createdAt: 3 },
      ],
      'https://chat.example',
      'https://chat.example/api/notifications/unsubscribe?token=t',
    );
    expect(digest.subject).toBe('3 new messages in Tea, <Ops>');
    expect(digest.html).not.toContain('<script>');
    expect(digest.html).toContain('&lt;script&gt;x&lt;/script&gt;');
    expect(digest.html).toContain('hi &amp; bye');
    expect(digest.html.match(/<h2>/g)).toHaveLength(2);
    expect(digest.text).toContain('<script>x</script>');
    expect(digest.text.indexOf('Ann in <Ops>')).toBeLessThan(digest.text.indexOf('Cy in <Ops>'));
    expect(digest.text).toContain('https://chat.example/api/notifications/unsubscribe?token=t');
  });
});

describe('a long digest', () => {
  it('shows the newest 50 messages and counts the rest', () => {
    const items = Array.from({ length: 60 }, (_, n) => ({
      roomId: 'r',
      roomName: 'Room',
      title: `t${n}`,
      body: `message number ${n}.`,
      createdAt: n,
    }));
    const digest = renderDigest(items, 'https://c.example', 'https://c.example/u');
    expect(digest.subject).toBe('60 new messages in Room');
    expect(digest.text).not.toContain('message number 9.');
    expect(digest.text).toContain('message number 10.');
    expect(digest.text).toContain('message number 59.');
    expect(digest.text).toContain('…and 10 earlier messages');
  });
});

describe('unsubscribe tokens', () => {
  it('verify for the user they were made for', () => {
    expect(verifyUnsubscribeToken('s'.repeat(32), unsubscribeToken('s'.repeat(32), 'user-1'))).toBe('user-1');
  });

  it('refuse a token signed with another secret, a changed user, or garbage', () => {
    const token = unsubscribeToken('secret-one-secret-one', 'user-1');
    expect(verifyUnsubscribeToken('secret-two-secret-two', token)).toBeNull();
    const [, mac] = token.split('.');
    expect(
      verifyUnsubscribeToken('secret-one-secret-one', `${Buffer.from('user-2').toString('base64url')}.${mac}`),
    ).toBeNull();
    expect(verifyUnsubscribeToken('secret-one-secret-one', 'nonsense')).toBeNull();
    expect(verifyUnsubscribeToken('secret-one-secret-one', '')).toBeNull();
  });
});
