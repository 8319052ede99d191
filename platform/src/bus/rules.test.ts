import { describe, expect, it } from 'vitest';
import { subjectMatches } from './port';
import {
  assertFilter,
  assertPublishSubject,
  deadLetterFor,
  deadLetterId,
  reconnectDelayMs,
  resolveSubscribeOptions,
  retryDelayMs,
  subjectMapper,
  supportsMultipleFilters,
} from './rules';

describe('bus rules', () => {
  it('matches * against exactly one token and > against one or more trailing tokens', () => {
    expect(subjectMatches('confab.room.*.read', 'confab.room.r1.read')).toBe(true);
    expect(subjectMatches('confab.room.*.read', 'confab.room.r1.x.read')).toBe(false);
    expect(subjectMatches('confab.room.>', 'confab.room.r1.message.created')).toBe(true);
    expect(subjectMatches('confab.room.>', 'confab.room')).toBe(false);
    expect(subjectMatches('confab.auth.session.revoked', 'confab.auth.session.revoked')).toBe(true);
    expect(subjectMatches('confab.auth.session', 'confab.auth.session.revoked')).toBe(false);
  });

  it('matches subjects exactly as matching token by token does, on every pairing of awkward filters and subjects', () => {
    // The reference: split both on '.', compare token by token. The matcher walks the strings instead.
    const reference = (filter: string, subject: string) => {
      const f = filter.split('.');
      const s = subject.split('.');
      for (let i = 0; i < f.length; i++) {
        if (f[i] === '>') return s.length > i;
        if (i >= s.length) return false;
        if (f[i] !== '*' && f[i] !== s[i]) return false;
      }
      return f.length === s.length;
    };
    const tokens = ['', 'a', 'ab', 'b', '*', '>', 'a*', '>b'];
    const strings = new Set<string>();
    for (const x of tokens) {
      strings.add(x);
      for (const y of tokens) {
        strings.add(`${x}.${y}`);
        for (const z of tokens) strings.add(`${x}.${y}.${z}`);
      }
    }
    let compared = 0;
    let matched = 0;
    for (const filter of strings) {
      for (const subject of strings) {
        const expected = reference(filter, subject);
        if (subjectMatches(filter, subject) !== expected) {
          expect.fail(`${JSON.stringify(filter)} against ${JSON.stringify(subject)}: expected ${expected}`);
        }
        compared++;
        if (expected) matched++;
      }
    }
    // Both outcomes are well represented, so the comparison means something.
    expect(compared).toBe(strings.size ** 2);
    expect(matched).toBeGreaterThan(1000);
    expect(compared - matched).toBeGreaterThan(100_000);
  });

  it('accepts only concrete subjects under confab. for publishing', () => {
    expect(() => assertPublishSubject('confab.room.r1.read')).not.toThrow();
    expect(() => assertPublishSubject('confab.room.A-b_c:9.read')).not.toThrow();
    for (const bad of [
      'room.r1',
      'confab',
      'confab.',
      'confab..x',
      'confab.room.',
      'confabx.room',
      'xconfab.room',
      'Confab.room',
      'confab.room\n',
      'confab.room.*',
      'confab.>',
      'confab.a b',
    ]) {
      expect(() => assertPublishSubject(bad), bad).toThrow(TypeError);
    }
  });

  it('accepts wildcard filters under confab. with > only at the end', () => {
    expect(() => assertFilter('confab.>')).not.toThrow();
    expect(() => assertFilter('confab.room.*.message.*')).not.toThrow();
    expect(() => assertFilter('confab.>.x')).toThrow(TypeError);
    expect(() => assertFilter('>')).toThrow(TypeError);
  });

  it('fills in subscription defaults and refuses nonsense values', () => {
    const handler = async () => {};
    expect(resolveSubscribeOptions({ durable: 'notifier', subjects: ['confab.room.>'], handler })).toMatchObject({
      maxDeliver: 5,
      concurrency: 1,
      ackWaitMs: 30_000,
    });
    expect(() => resolveSubscribeOptions({ durable: 'a.b', subjects: ['confab.>'], handler })).toThrow(/durable/);
    expect(() =>
      resolveSubscribeOptions({ durable: `sync-${'x'.repeat(64)}`, subjects: ['confab.>'], handler }),
    ).not.toThrow();
    expect(() => resolveSubscribeOptions({ durable: 'x'.repeat(129), subjects: ['confab.>'], handler })).toThrow(
      /durable/,
    );
    expect(() => resolveSubscribeOptions({ durable: 'a', subjects: [], handler })).toThrow(/subject/);
    expect(() => resolveSubscribeOptions({ durable: 'a', subjects: ['confab.>'], maxDeliver: 0, handler })).toThrow(
      /maxDeliver/,
    );
    expect(() => resolveSubscribeOptions({ durable: 'a', subjects: ['confab.>'], concurrency: 0, handler })).toThrow(
      /concurrency/,
    );
    expect(() =>
      resolveSubscribeOptions({ durable: 'a', subjects: ['confab.>'], forgetAfterIdleMs: 999, handler }),
    ).toThrow(/forgetAfterIdleMs/);
    expect(
      resolveSubscribeOptions({ durable: 'a', subjects: ['confab.>'], forgetAfterIdleMs: 60_000, handler })
        .forgetAfterIdleMs,
    ).toBe(60_000);
    expect(() => resolveSubscribeOptions({ durable: 'a', subjects: ['confab.>'], backoffMs: [], handler })).toThrow(
      /backoffMs/,
    );
  });

  it('waits the backoff entry of the failed attempt, and the last entry after the list runs out', () => {
    const backoff = [100, 500, 2_000];
    expect([1, 2, 3, 4, 9].map((attempt) => retryDelayMs(backoff, attempt))).toEqual([100, 500, 2_000, 2_000, 2_000]);
  });

  it('gives the dead letter of one event under one durable the same id every time', () => {
    expect(deadLetterId('notifier', 'e1')).toBe(deadLetterId('notifier', 'e1'));
    expect(deadLetterId('notifier', 'e1')).not.toBe(deadLetterId('notifier', 'e2'));
    expect(deadLetterId('notifier', 'e1')).not.toBe(deadLetterId('mailer', 'e1'));
    const letter = deadLetterFor({
      durable: 'notifier',
      subject: 'confab.room.r.read',
      event: { id: 'e1' },
      attempts: 5,
      error: new TypeError('boom'),
      nowMs: 42,
    });
    expect(letter).toEqual({
      subject: 'confab.deadletter.notifier',
      event: {
        id: deadLetterId('notifier', 'e1'),
        durable: 'notifier',
        subject: 'confab.room.r.read',
        event: { id: 'e1' },
        attempts: 5,
        error: 'TypeError: boom',
        deadLetteredAt: 42,
      },
    });
  });

  it('maps confab. onto a test prefix on the wire and back, leaving the default prefix alone', () => {
    const test = subjectMapper('t123');
    expect(test.toWire('confab.room.r.read')).toBe('t123.room.r.read');
    expect(test.fromWire('t123.room.r.read')).toBe('confab.room.r.read');
    expect(test.all).toBe('t123.>');
    const prod = subjectMapper('confab');
    expect(prod.toWire('confab.room.>')).toBe('confab.room.>');
    expect(prod.fromWire('confab.room.r.read')).toBe('confab.room.r.read');
    expect(() => subjectMapper('a.b')).toThrow(TypeError);
  });

  it('uses several consumer filters only on nats-server 2.10 or later', () => {
    expect(supportsMultipleFilters('2.9.10')).toBe(false);
    expect(supportsMultipleFilters('2.10.0')).toBe(true);
    expect(supportsMultipleFilters('2.11.4')).toBe(true);
    expect(supportsMultipleFilters('3.0.0')).toBe(true);
    expect(supportsMultipleFilters(undefined)).toBe(false);
  });

  it('doubles the reconnect delay per failed attempt up to the cap', () => {
    const noJitter = () => 0;
    expect([0, 1, 2, 3, 10].map((n) => reconnectDelayMs(100, 1_000, n, noJitter))).toEqual([100, 200, 400, 800, 1_000]);
    expect(reconnectDelayMs(100, 1_000, 0, () => 1)).toBe(110);
  });
});
