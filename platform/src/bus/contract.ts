import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueSuffix, waitFor } from '../testing/services';
import type { BusEvent, DeadLetter, Delivery, EventBus, Subscription } from './port';
import { deadLetterSubject } from './port';

/**
 * The one behaviour suite every EventBus adapter runs (in-process on SQLite
 * and PostgreSQL, NATS JetStream). `createBus()` must return a new bus over
 * the SAME backing store each time (another "process"), so restarts and
 * shared durables can be tested; `teardown()` closes what is left and drops
 * the store. Tests share the store, so each one uses its own subjects and
 * durables (a fresh token per test).
 */
export interface BusContractHarness {
  createBus(): Promise<EventBus>;
  teardown(): Promise<void>;
}

const WAIT = { timeoutMs: 10_000 };

function token(): string {
  return `c${uniqueSuffix().replace(/[^A-Za-z0-9]/g, '')}`;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function runBusContract(name: string, setup: () => Promise<BusContractHarness>): void {
  describe(`EventBus contract: ${name}`, () => {
    let harness: BusContractHarness;
    const open: EventBus[] = [];
    const bus = async () => {
      const b = await harness.createBus();
      open.push(b);
      return b;
    };

    beforeAll(async () => {
      harness = await setup();
    });
    afterAll(async () => {
      await Promise.all(open.map((b) => b.close()));
      await harness?.teardown();
    });

    it('delivers an event to every durable whose filter matches its subject, and to no other', async () => {
      const t = token();
      const b = await bus();
      const created: Delivery[] = [];
      const everything: Delivery[] = [];
      const s1 = await b.subscribe({
        durable: `${t}_created`,
        subjects: [`confab.${t}.room.*.message.created`],
        handler: async (d) => {
          created.push(d);
        },
      });
      const s2 = await b.subscribe({
        durable: `${t}_all`,
        subjects: [`confab.${t}.>`],
        handler: async (d) => {
          everything.push(d);
        },
      });
      await b.publish(`confab.${t}.room.r1.message.created`, { id: `${t}-1`, text: 'hello' });
      await b.publish(`confab.${t}.room.r1.message.deleted`, { id: `${t}-2` });
      await b.publish(`confab.${t}.auth.session.revoked`, { id: `${t}-3` });
      await waitFor(() => everything.length === 3, WAIT);
      await sleep(100);
      expect(created.map((d) => d.event.id)).toEqual([`${t}-1`]);
      expect(created[0]).toEqual({
        subject: `confab.${t}.room.r1.message.created`,
        event: { id: `${t}-1`, text: 'hello' },
        attempt: 1,
      });
      expect(everything.map((d) => d.subject)).toEqual([
        `confab.${t}.room.r1.message.created`,
        `confab.${t}.room.r1.message.deleted`,
        `confab.${t}.auth.session.revoked`,
      ]);
      await Promise.all([s1.stop(), s2.stop()]);
    });

    it('accepts several subject filters in one subscription', async () => {
      const t = token();
      const b = await bus();
      const seen: string[] = [];
      const s = await b.subscribe({
        durable: `${t}_multi`,
        subjects: [`confab.${t}.a.>`, `confab.${t}.b.*`],
        handler: async (d) => {
          seen.push(d.subject);
        },
      });
      await b.publish(`confab.${t}.a.x.y`, { id: `${t}-1` });
      await b.publish(`confab.${t}.c.x`, { id: `${t}-2` });
      await b.publish(`confab.${t}.b.x`, { id: `${t}-3` });
      await b.publish(`confab.${t}.b.x.y`, { id: `${t}-4` });
      await waitFor(() => seen.length === 2, WAIT);
      await sleep(100);
      expect(seen).toEqual([`confab.${t}.a.x.y`, `confab.${t}.b.x`]);
      await s.stop();
    });

    it('finds the few events a durable subscribes to among thousands of others, with their payloads, in order', async () => {
      const t = token();
      const b = await bus();
      const seen: Delivery[] = [];
      // 4,500 events of another subject (more than one scan of the in-process bus), three of ours among them.
      const ours = new Set([0, 2_222, 4_499]);
      for (let start = 0; start < 4_500; start += 500) {
        await Promise.all(
          Array.from({ length: 500 }, (_, k) => start + k).map((i) =>
            ours.has(i)
              ? b.publish(`confab.${t}.auth.session.revoked`, { id: `${t}-ours-${i}`, n: i })
              : b.publish(`confab.${t}.room.r1.message.created`, { id: `${t}-other-${i}`, n: i }),
          ),
        );
      }
      const s = await b.subscribe({
        durable: `${t}_few`,
        subjects: [`confab.${t}.auth.>`],
        handler: async (d) => {
          seen.push(d);
        },
      });
      await waitFor(() => seen.length === 3, WAIT);
      await sleep(100);
      expect(seen.map((d) => d.event)).toEqual([...ours].map((n) => ({ id: `${t}-ours-${n}`, n })));
      await s.stop();
    });

    it('resumes a durable after its subscriber restarts: acked events stay acked, unacked ones come back', async () => {
      const t = token();
      const subject = `confab.${t}.room.r.read`;
      const first = await harness.createBus();
      const seenFirst: string[] = [];
      const s1 = await first.subscribe({
        durable: t,
        subjects: [subject],
        backoffMs: [300],
        handler: async (d) => {
          seenFirst.push(d.event.id);
          if (d.event.id === `${t}-2`) throw new Error('not now');
        },
      });
      await first.publish(subject, { id: `${t}-1` });
      await first.publish(subject, { id: `${t}-2` });
      await waitFor(() => seenFirst.length === 2, WAIT);
      await s1.stop();
      await first.close();

      // Another "process" takes over the durable; one more event arrives while nobody listens.
      const second = await bus();
      await second.publish(subject, { id: `${t}-3` });
      const seenSecond: Delivery[] = [];
      const s2 = await second.subscribe({
        durable: t,
        subjects: [subject],
        handler: async (d) => {
          seenSecond.push(d);
        },
      });
      await waitFor(() => seenSecond.length === 2, WAIT);
      await sleep(150);
      expect(seenSecond.map((d) => [d.event.id, d.attempt])).toEqual([
        [`${t}-2`, 2],
        [`${t}-3`, 1],
      ]);
      await s2.stop();
    });

    it('redelivers an event whose handler threw, counting attempts, until the handler succeeds', async () => {
      const t = token();
      const b = await bus();
      const attempts: number[] = [];
      const at: number[] = [];
      let handled = 0;
      const s = await b.subscribe({
        durable: t,
        subjects: [`confab.${t}.>`],
        backoffMs: [100, 200],
        handler: async (d) => {
          attempts.push(d.attempt);
          at.push(Date.now());
          if (d.attempt < 3) throw new Error(`fail ${d.attempt}`);
          handled++;
        },
      });
      await b.publish(`confab.${t}.x`, { id: `${t}-1` });
      await waitFor(() => handled === 1, WAIT);
      expect(attempts).toEqual([1, 2, 3]);
      // The backoff is honoured (a little slack for timer granularity).
      expect((at[1] ?? 0) - (at[0] ?? 0)).toBeGreaterThanOrEqual(80);
      expect((at[2] ?? 0) - (at[1] ?? 0)).toBeGreaterThanOrEqual(160);
      await sleep(300);
      expect(attempts).toEqual([1, 2, 3]);
      await s.stop();
    });

    it('moves an event to confab.deadletter.<durable> after maxDeliver failed attempts', async () => {
      const t = token();
      const b = await bus();
      let attempts = 0;
      const letters: Delivery[] = [];
      const after: string[] = [];
      const failing = await b.subscribe({
        durable: t,
        subjects: [`confab.${t}.>`],
        maxDeliver: 3,
        backoffMs: [20],
        handler: async (d) => {
          if (d.event.id === `${t}-bad`) {
            attempts++;
            throw new Error('handler is broken');
          }
          after.push(d.event.id);
        },
      });
      const watcher = await b.subscribe({
        durable: `${t}_dlq`,
        subjects: [deadLetterSubject(t)],
        handler: async (d) => {
          letters.push(d);
        },
      });
      await b.publish(`confab.${t}.x`, { id: `${t}-bad`, n: 1 });
      await b.publish(`confab.${t}.x`, { id: `${t}-good` });
      await waitFor(() => letters.length === 1 && after.length === 1, WAIT);
      expect(attempts).toBe(3);
      // The dead letter does not block what came after it.
      expect(after).toEqual([`${t}-good`]);
      const letter = letters[0] as Delivery<DeadLetter>;
      expect(letter.subject).toBe(`confab.deadletter.${t}`);
      expect(letter.event).toMatchObject({
        durable: t,
        subject: `confab.${t}.x`,
        event: { id: `${t}-bad`, n: 1 },
        attempts: 3,
      });
      expect(letter.event.error).toContain('handler is broken');
      await sleep(200);
      expect(attempts).toBe(3);
      await Promise.all([failing.stop(), watcher.stop()]);
    });

    it('drops an event re-published with an id it already has', async () => {
      const t = token();
      const b = await bus();
      const seen: string[] = [];
      const s = await b.subscribe({
        durable: t,
        subjects: [`confab.${t}.>`],
        handler: async (d) => {
          seen.push(d.event.id);
        },
      });
      await b.publish(`confab.${t}.x`, { id: `${t}-1`, v: 1 });
      await b.publish(`confab.${t}.x`, { id: `${t}-1`, v: 2 });
      await b.publish(`confab.${t}.x`, { id: `${t}-2` });
      await waitFor(() => seen.includes(`${t}-2`), WAIT);
      await sleep(150);
      expect(seen).toEqual([`${t}-1`, `${t}-2`]);
      await s.stop();
    });

    it('handles the events of one subject in publish order with concurrency 1', async () => {
      const t = token();
      const b = await bus();
      const subject = `confab.${t}.room.r.message.created`;
      const seen: number[] = [];
      let active = 0;
      let maxActive = 0;
      const s = await b.subscribe({
        durable: t,
        subjects: [subject],
        concurrency: 1,
        backoffMs: [20],
        handler: async (d) => {
          active++;
          maxActive = Math.max(maxActive, active);
          await sleep(Math.random() * 5);
          active--;
          // One failure midway must not let later events overtake it.
          if (d.event.n === 5 && d.attempt === 1) throw new Error('retry me');
          seen.push(d.event.n as number);
        },
      });
      for (let n = 0; n < 20; n++) await b.publish(subject, { id: `${t}-${n}`, n });
      await waitFor(() => seen.length === 20, WAIT);
      expect(seen).toEqual(Array.from({ length: 20 }, (_, n) => n));
      expect(maxActive).toBe(1);
      await s.stop();
    });

    it('handles up to `concurrency` events at once', async () => {
      const t = token();
      const b = await bus();
      let active = 0;
      let maxActive = 0;
      let done = 0;
      const s = await b.subscribe({
        durable: t,
        subjects: [`confab.${t}.>`],
        concurrency: 4,
        handler: async () => {
          active++;
          maxActive = Math.max(maxActive, active);
          await sleep(50);
          active--;
          done++;
        },
      });
      for (let n = 0; n < 12; n++) await b.publish(`confab.${t}.x`, { id: `${t}-${n}` });
      await waitFor(() => done === 12, WAIT);
      expect(maxActive).toBeGreaterThan(1);
      expect(maxActive).toBeLessThanOrEqual(4);
      await s.stop();
    });

    it('stop() resolves only after in-flight handlers have finished, and their events stay acked', async () => {
      const t = token();
      const b = await bus();
      const started = deferred();
      let finished = false;
      const s = await b.subscribe({
        durable: t,
        subjects: [`confab.${t}.>`],
        handler: async () => {
          started.resolve();
          await sleep(200);
          finished = true;
        },
      });
      await b.publish(`confab.${t}.x`, { id: `${t}-1` });
      await started.promise;
      await s.stop();
      expect(finished).toBe(true);

      const again: string[] = [];
      const s2 = await b.subscribe({
        durable: t,
        subjects: [`confab.${t}.>`],
        handler: async (d) => {
          again.push(d.event.id);
        },
      });
      await b.publish(`confab.${t}.x`, { id: `${t}-2` });
      await waitFor(() => again.length >= 1, WAIT);
      await sleep(100);
      expect(again).toEqual([`${t}-2`]);
      await s2.stop();
    });

    it('stop() right after subscribe() resolves promptly, and the durable still gets its events later', async () => {
      const t = token();
      const b = await bus();
      await waitFor(() => b.healthy(), WAIT);
      const started = Date.now();
      const s1 = await b.subscribe({ durable: t, subjects: [`confab.${t}.>`], handler: async () => {} });
      await s1.stop();
      expect(Date.now() - started).toBeLessThan(5_000);
      await b.publish(`confab.${t}.x`, { id: `${t}-1` });
      const seen: string[] = [];
      const s2 = await b.subscribe({
        durable: t,
        subjects: [`confab.${t}.>`],
        handler: async (d) => {
          seen.push(d.event.id);
        },
      });
      await waitFor(() => seen.length === 1, WAIT);
      await s2.stop();
    });

    it('shares the work of one durable between two subscribers, each event handled once', async () => {
      const t = token();
      const [b1, b2] = [await bus(), await bus()];
      const handledBy = new Map<string, number[]>();
      const handler = (who: number) => async (d: Delivery) => {
        handledBy.set(d.event.id, [...(handledBy.get(d.event.id) ?? []), who]);
        await sleep(15);
      };
      // Published before anyone subscribes, so both subscribers find more work than one can take: published
      // one by one to running subscribers, on a loaded machine each publish could take longer than a
      // subscriber's free slot, and the first one woken would handle every event.
      for (let n = 0; n < 40; n++) await (n % 2 ? b1 : b2).publish(`confab.${t}.x`, { id: `${t}-${n}` });
      const subs: Subscription[] = await Promise.all([
        b1.subscribe({ durable: t, subjects: [`confab.${t}.>`], concurrency: 4, handler: handler(1) }),
        b2.subscribe({ durable: t, subjects: [`confab.${t}.>`], concurrency: 4, handler: handler(2) }),
      ]);
      await waitFor(() => handledBy.size === 40, WAIT);
      await sleep(200);
      const all = [...handledBy.values()];
      expect(all.every((who) => who.length === 1)).toBe(true);
      expect(all.some((who) => who[0] === 1)).toBe(true);
      expect(all.some((who) => who[0] === 2)).toBe(true);
      await Promise.all(subs.map((s) => s.stop()));
    });

    it('delivers events published while a known durable had no subscriber once one subscribes', async () => {
      const t = token();
      const b = await bus();
      const seen: string[] = [];
      const handler = async (d: Delivery) => {
        seen.push(d.event.id);
      };
      const s1 = await b.subscribe({ durable: t, subjects: [`confab.${t}.>`], handler });
      await s1.stop();
      for (let n = 0; n < 3; n++) await b.publish(`confab.${t}.x`, { id: `${t}-${n}` });
      await sleep(100);
      expect(seen).toEqual([]);
      const s2 = await b.subscribe({ durable: t, subjects: [`confab.${t}.>`], handler });
      await waitFor(() => seen.length === 3, WAIT);
      expect(seen).toEqual([`${t}-0`, `${t}-1`, `${t}-2`]);
      await s2.stop();
    });

    it('starts a brand-new durable at the oldest event the bus retains', async () => {
      const t = token();
      const b = await bus();
      await b.publish(`confab.${t}.x`, { id: `${t}-early` });
      const seen: string[] = [];
      const s = await b.subscribe({
        durable: t,
        subjects: [`confab.${t}.>`],
        handler: async (d) => {
          seen.push(d.event.id);
        },
      });
      await b.publish(`confab.${t}.x`, { id: `${t}-late` });
      await waitFor(() => seen.length === 2, WAIT);
      expect(seen).toEqual([`${t}-early`, `${t}-late`]);
      await s.stop();
    });

    it('refuses subjects outside confab., events without an id and oversized or non-JSON events, as programming errors', async () => {
      const b = await bus();
      await expect(b.publish('other.thing', { id: 'x' })).rejects.toThrow(TypeError);
      await expect(b.publish('confab.room.*.read', { id: 'x' })).rejects.toThrow(TypeError);
      await expect(b.publish('confab.x', { id: '' } as BusEvent)).rejects.toThrow(TypeError);
      await expect(b.publish('confab.x', { id: 'big', text: 'x'.repeat(70_000) })).rejects.toThrow(/bytes/);
      await expect(b.publish('confab.x', { id: 'bigint', n: 1n })).rejects.toThrow(TypeError);
      await expect(
        b.subscribe({ durable: 'has.dot', subjects: ['confab.>'], handler: async () => {} }),
      ).rejects.toThrow(TypeError);
      await expect(b.subscribe({ durable: 'ok', subjects: ['elsewhere.>'], handler: async () => {} })).rejects.toThrow(
        TypeError,
      );
    });

    it('reports itself healthy while its backing store is reachable, and not after close()', async () => {
      const b = await harness.createBus();
      await waitFor(() => b.healthy(), WAIT);
      expect(await b.healthy()).toBe(true);
      await b.close();
      expect(await b.healthy()).toBe(false);
      await expect(b.publish('confab.x', { id: token() })).rejects.toThrow(/closed/);
      await expect(b.subscribe({ durable: token(), subjects: ['confab.x'], handler: async () => {} })).rejects.toThrow(
        /closed/,
      );
    });
  });
}
