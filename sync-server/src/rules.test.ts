import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { checkClaims } from './extensions/auth';
import { roomEvents } from './extensions/events';
import { NO_CHANGES } from './extensions/guard-port';
import { shouldCompact } from './extensions/persistence';
import { refill, takeFromAll } from './extensions/rate-limit';
import { eventTimeMs } from './extensions/revocation';
import { isEmptyUpdate, spendPayload } from './extensions/update-pipeline';
import { membershipRevocation } from './storage/revocations';
import { originAllowed, protocolVersionAccepted, protocolVersionOf } from './upgrade';

const claims = { sub: 'alice', sid: 's1', doc: 'room:r1', role: 'member', iat: 1000, exp: 1000 + 900 };

describe('token claims', () => {
  it('grants the document named in the token, read-only for readers', () => {
    const ok = checkClaims(claims, 'room:r1');
    expect(ok).toMatchObject({ ok: true, readOnly: false, issuedAtMs: 1_000_000 });
    expect(checkClaims({ ...claims, role: 'reader' }, 'room:r1')).toMatchObject({ ok: true, readOnly: true });
  });

  it('refuses another document, another user’s private document, a long-lived token and a missing claim', () => {
    expect(checkClaims(claims, 'room:r2')).toMatchObject({ ok: false, close: { reason: 'forbidden' } });
    expect(checkClaims({ ...claims, doc: 'user:bob' }, 'user:bob')).toMatchObject({
      ok: false,
      close: { reason: 'forbidden' },
    });
    expect(checkClaims({ ...claims, exp: 1000 + 901 }, 'room:r1')).toMatchObject({
      ok: false,
      close: { reason: 'unauthorized' },
    });
    expect(checkClaims({ ...claims, sid: undefined }, 'room:r1')).toMatchObject({ ok: false });
    expect(checkClaims({ ...claims, role: 'admin' }, 'room:r1')).toMatchObject({ ok: false });
    expect(checkClaims({ ...claims, doc: 'room:a b' }, 'room:a b')).toMatchObject({ ok: false });
  });

  it('makes the owner of a private document its owner, whatever role the token names', () => {
    expect(checkClaims({ ...claims, doc: 'user:alice', role: 'reader' }, 'user:alice')).toMatchObject({
      ok: true,
      readOnly: false,
      context: { role: 'owner', document: { kind: 'user', userId: 'alice' } },
    });
  });
});

describe('the socket', () => {
  it('lets through no Origin and PUBLIC_URL’s origin, and nothing else', () => {
    expect(originAllowed(undefined, 'https://chat.example.org')).toBe(true);
    expect(originAllowed('https://chat.example.org', 'https://chat.example.org')).toBe(true);
    expect(originAllowed('https://chat.example.org:443', 'https://chat.example.org')).toBe(true);
    expect(originAllowed('http://chat.example.org', 'https://chat.example.org')).toBe(false);
    expect(originAllowed('https://evil.example', 'https://chat.example.org')).toBe(false);
    expect(originAllowed('null', 'https://chat.example.org')).toBe(false);
  });

  it('reads the protocol version from the URL, taking a missing one as 1', () => {
    expect(protocolVersionOf(new URLSearchParams(''))).toBe(1);
    expect(protocolVersionOf(new URLSearchParams('protocolVersion=1'))).toBe(1);
    expect(protocolVersionOf(new URLSearchParams('protocolVersion=x'))).toBeNaN();
    expect(protocolVersionAccepted(new URLSearchParams('protocolVersion=1'))).toBe(true);
    expect(protocolVersionAccepted(new URLSearchParams('protocolVersion=0'))).toBe(false);
    expect(protocolVersionAccepted(new URLSearchParams('protocolVersion=2'))).toBe(false);
  });
});

describe('storage and events', () => {
  it('compacts once the log is as large as the snapshot (or the minimum)', () => {
    expect(shouldCompact({ logBytes: 100, snapshotBytes: 0 }, 1000)).toBe(false);
    expect(shouldCompact({ logBytes: 1000, snapshotBytes: 0 }, 1000)).toBe(true);
    expect(shouldCompact({ logBytes: 5000, snapshotBytes: 10_000 }, 1000)).toBe(false);
    expect(shouldCompact({ logBytes: 10_000, snapshotBytes: 10_000 }, 1000)).toBe(true);
  });

  it('knows the empty update', () => {
    expect(isEmptyUpdate(new Uint8Array([0, 0]))).toBe(true);
    expect(isEmptyUpdate(new Uint8Array([0, 1, 0]))).toBe(false);
  });

  it('spends an applied update in place: the bytes read again change nothing and decode as no structs, no deletions', () => {
    const author = new Y.Doc();
    const list = author.getArray<string>('l');
    list.push(['a', 'b', 'c']);
    const before = Y.encodeStateVector(author);
    list.delete(0, 2);
    list.push(['d']);
    const update = Y.encodeStateAsUpdate(author, before);
    const message = new Uint8Array([7, ...update, 9]);
    const payload = message.subarray(1, 1 + update.byteLength);

    const server = new Y.Doc();
    Y.applyUpdate(server, Y.encodeStateAsUpdate(author));
    const state = Y.encodeStateAsUpdate(server);
    spendPayload(payload);
    expect(message[0]).toBe(7);
    expect(message.at(-1)).toBe(9);
    expect(Y.decodeUpdate(payload)).toEqual({ structs: [], ds: { clients: new Map() } });
    let transactionsWithChanges = 0;
    server.on('update', () => {
      transactionsWithChanges += 1;
    });
    Y.applyUpdate(server, payload);
    expect(transactionsWithChanges).toBe(0);
    expect(Y.encodeStateAsUpdate(server)).toEqual(state);
    // Applied to a document that never had the update, it adds nothing either.
    const stranger = new Y.Doc();
    Y.applyUpdate(stranger, payload);
    expect(stranger.getArray('l').length).toBe(0);
  });

  it('dates an event by its UUIDv7 id, never in the future', () => {
    expect(eventTimeMs('01890a5d-ac96-774b-bcce-b302099a8057', 2_000_000_000_000)).toBe(0x01890a5dac96);
    expect(eventTimeMs('01890a5d-ac96-774b-bcce-b302099a8057', 5)).toBe(5);
    expect(eventTimeMs('not-a-uuid', 42)).toBe(42);
  });

  it('turns room changes into the contract’s events, one per change, none for reactions', () => {
    let n = 0;
    const events = roomEvents(
      'r1',
      {
        ...NO_CHANGES,
        created: [{ id: 'm1', author: 'alice', text: 'hi', createdAt: 1 } as never],
        reads: [{ userId: 'bob', messageId: 'm1', at: 2 }],
        reactions: [{ key: 'm1|bob|👍', on: true }],
      },
      ['alice', 'bob'],
      () => `e${++n}`,
    );
    expect(events).toEqual([
      {
        subject: 'confab.room.r1.message.created',
        event: {
          id: 'e1',
          roomId: 'r1',
          messageId: 'm1',
          authorId: 'alice',
          text: 'hi',
          replyTo: null,
          mentions: [],
          createdAt: 1,
          onlineUserIds: ['alice', 'bob'],
        },
      },
      { subject: 'confab.room.r1.read', event: { id: 'e2', roomId: 'r1', userId: 'bob', messageId: 'm1', at: 2 } },
    ]);
  });
});

describe('tokens older than a membership change', () => {
  it('are refused after a removal, and serve the role held now after a demotion', () => {
    expect(membershipRevocation('owner', 'member')).toEqual({ kind: 'role', role: 'member' });
    expect(membershipRevocation('member', 'reader')).toEqual({ kind: 'role', role: 'reader' });
    expect(membershipRevocation('owner', 'reader')).toEqual({ kind: 'role', role: 'reader' });
    expect(membershipRevocation('reader', null)).toEqual({ kind: 'membership' });
    expect(membershipRevocation('owner', null)).toEqual({ kind: 'membership' });
  });

  it('serve the role held now after a promotion, and are untouched when the role is the one they carry', () => {
    expect(membershipRevocation('reader', 'member')).toEqual({ kind: 'role', role: 'member' });
    expect(membershipRevocation('member', 'owner')).toEqual({ kind: 'role', role: 'owner' });
    expect(membershipRevocation('member', 'member')).toBeNull();
    expect(membershipRevocation('owner', 'owner')).toBeNull();
  });
});

describe('update token buckets', () => {
  const limits = { perSecond: 20, burst: 100 };

  it('start full, refill at the sustained rate and never above the burst', () => {
    expect(refill(undefined, 5000, limits)).toEqual({ tokens: 100, atMs: 5000 });
    expect(refill({ tokens: 0, atMs: 0 }, 500, limits)).toEqual({ tokens: 10, atMs: 500 });
    expect(refill({ tokens: 90, atMs: 0 }, 60_000, limits)).toEqual({ tokens: 100, atMs: 60_000 });
    // A clock that steps back refills nothing.
    expect(refill({ tokens: 3, atMs: 1000 }, 900, limits)).toEqual({ tokens: 3, atMs: 900 });
  });

  it('allow a burst, then the sustained rate, and refuse beyond it', () => {
    let buckets = [{ bucket: undefined as { tokens: number; atMs: number } | undefined, limits }];
    let allowed = 0;
    for (let i = 0; i < 150; i++) {
      const outcome = takeFromAll(buckets, 0);
      if (outcome.allowed) allowed++;
      buckets = [{ bucket: outcome.buckets[0], limits }];
    }
    expect(allowed).toBe(100);
    // One second later: 20 more.
    let later = 0;
    for (let i = 0; i < 50; i++) {
      const outcome = takeFromAll(buckets, 1000);
      if (outcome.allowed) later++;
      buckets = [{ bucket: outcome.buckets[0], limits }];
    }
    expect(later).toBe(20);
  });

  it('take from no bucket when any is empty, and say which one was', () => {
    const full = { tokens: 5, atMs: 0 };
    const empty = { tokens: 0.5, atMs: 0 };
    const outcome = takeFromAll(
      [
        { bucket: full, limits },
        { bucket: empty, limits },
      ],
      0,
    );
    expect(outcome).toEqual({ allowed: false, emptyIndex: 1, buckets: [full, empty] });
    const ok = takeFromAll(
      [
        { bucket: full, limits },
        { bucket: full, limits },
      ],
      0,
    );
    expect(ok).toEqual({
      allowed: true,
      buckets: [
        { tokens: 4, atMs: 0 },
        { tokens: 4, atMs: 0 },
      ],
    });
  });
});
