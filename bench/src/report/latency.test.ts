import { describe, expect, it } from 'vitest';
import { type LatencyStep, latencyAcrossLoads, spread } from './latency';

const step = (offeredDeliveriesPerSec: number, p50Ms: number, p99Ms: number, sustained = true): LatencyStep => ({
  offeredDeliveriesPerSec,
  sustained,
  p50Ms,
  p99Ms,
});

describe('latencyAcrossLoads', () => {
  it('compares only the loads both servers sustained', () => {
    const subject = [step(1000, 2, 10), step(2000, 3, 30), step(4000, 9, 900, false), step(8000, 4, 40)];
    const baseline = [step(1000, 1, 5), step(2000, 1, 10), step(4000, 2, 20), step(16000, 1, 1)];
    const result = latencyAcrossLoads(subject, baseline);
    expect(result?.loads).toEqual([1000, 2000]);
    expect(result?.p99).toEqual({ median: 2.5, min: 2, max: 3 });
    expect(result?.p50).toEqual({ median: 2.5, min: 2, max: 3 });
  });

  it('takes the middle ratio of an odd count, whatever order the steps come in', () => {
    const subject = [step(3000, 1, 40), step(1000, 1, 10), step(2000, 1, 90)];
    const baseline = [step(1000, 1, 10), step(2000, 1, 10), step(3000, 1, 10)];
    const result = latencyAcrossLoads(subject, baseline);
    expect(result?.loads).toEqual([1000, 2000, 3000]);
    expect(result?.p99).toEqual({ median: 4, min: 1, max: 9 });
  });

  it('is null without a load in common, or with a latency it cannot divide by', () => {
    expect(latencyAcrossLoads([step(1000, 1, 1)], [step(2000, 1, 1)])).toBeNull();
    expect(latencyAcrossLoads([step(1000, 1, 1)], [step(1000, 1, 1, false)])).toBeNull();
    expect(latencyAcrossLoads([step(1000, 1, 1)], [step(1000, 0, 1)])).toBeNull();
    expect(latencyAcrossLoads([step(1000, 1, Number.NaN)], [step(1000, 1, 1)])).toBeNull();
  });
});

describe('spread', () => {
  it('gives the median and the range of figures in any order', () => {
    expect(spread([9, 1, 5])).toEqual({ median: 5, min: 1, max: 9 });
    expect(spread([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4 });
  });

  it('has nothing to say about no figures', () => {
    expect(spread([])).toEqual({ median: Number.NaN, min: Number.NaN, max: Number.NaN });
  });
});
