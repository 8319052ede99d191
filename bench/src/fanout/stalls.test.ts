import { describe, expect, it } from 'vitest';
import { type StallRecord, summarizeSteps } from './stalls';

const S = 1e6; // µs in a second

describe('summarizeSteps', () => {
  const record: StallRecord = {
    // marks: a 1 s wait for the server to idle, then two 5 s steps
    marks: [0, 1 * S, 6 * S, 11 * S],
    schedule: [
      [0, 0, 0],
      [100e6, 10e6, 50],
      [1_900e6, 510e6, 9_000],
      [3_500e6, 1_100e6, 18_000],
    ],
    stalls: [
      { startUs: 0.5 * S, durationMs: 20 }, // during the idle wait: not a step's
      { startUs: 2 * S, durationMs: 6 },
      { startUs: 3 * S, durationMs: 12 },
      { startUs: 7 * S, durationMs: 9 },
    ],
    collections: [
      { startUs: 3 * S + 2_000, durationMs: 7.5, kind: 4 }, // inside the 12 ms stall
      { startUs: 4 * S, durationMs: 1.2, kind: 1 },
      { startUs: 4.5 * S, durationMs: 0.8, kind: 1 },
      { startUs: 8 * S, durationMs: 2, kind: 1 }, // in the second step, outside its stall
    ],
  };

  it('keeps the intervals as long as a step, each with its stalls, collections and CPU wait', () => {
    expect(summarizeSteps(record, 4.5, 7)).toEqual([
      {
        seconds: 5,
        stalls: 2,
        stallMs: 18,
        longStalls: [{ ms: 12, collections: [{ kind: 4, ms: 7.5 }] }],
        minor: 2,
        minorMs: 2,
        major: 1,
        majorMs: 7.5,
        maxCollectionMs: 7.5,
        runMs: 1800,
        waitMs: 500,
      },
      {
        seconds: 5,
        stalls: 1,
        stallMs: 9,
        longStalls: [{ ms: 9, collections: [] }],
        minor: 1,
        minorMs: 2,
        major: 0,
        majorMs: 0,
        maxCollectionMs: 2,
        runMs: 1600,
        waitMs: 590,
      },
    ]);
  });

  it('leaves the CPU figures out where /proc gave nothing', () => {
    const steps = summarizeSteps({ ...record, schedule: record.schedule.map(() => []) }, 4.5, 7);
    expect(steps).toHaveLength(2);
    expect(steps[0]).not.toHaveProperty('runMs');
    expect(steps[0]).not.toHaveProperty('waitMs');
  });
});
