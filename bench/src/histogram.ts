/**
 * A log-bucketed latency histogram in microseconds, about 1% resolution.
 * Generators record into it on the hot path (one Math.log and an increment)
 * and ship it to the orchestrator as sparse pairs, where histograms from
 * several processes are merged before percentiles are read: percentiles of
 * percentiles would be wrong.
 */
const BUCKETS_PER_E = 100;
const MAX_BUCKET = 2000; // e^20 µs ≈ 485 million µs: far beyond any run's bound

export interface SparseHistogram {
  /** [bucket index, count] pairs. */
  buckets: [number, number][];
  count: number;
  maxUs: number;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(MAX_BUCKET + 1);
  count = 0;
  maxUs = 0;

  record(us: number): void {
    const value = Math.max(us, 0);
    const index = Math.min(MAX_BUCKET, Math.ceil(Math.log1p(value) * BUCKETS_PER_E));
    this.counts[index] = (this.counts[index] ?? 0) + 1;
    this.count++;
    if (value > this.maxUs) this.maxUs = value;
  }

  add(other: SparseHistogram): void {
    for (const [index, n] of other.buckets) this.counts[index] = (this.counts[index] ?? 0) + n;
    this.count += other.count;
    if (other.maxUs > this.maxUs) this.maxUs = other.maxUs;
  }

  /** The latency (µs) below which `q` (0..1) of the recorded values fall; the bucket's upper edge. */
  percentileUs(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i <= MAX_BUCKET; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(Math.expm1(i / BUCKETS_PER_E), this.maxUs);
    }
    return this.maxUs;
  }

  toSparse(): SparseHistogram {
    const buckets: [number, number][] = [];
    for (let i = 0; i <= MAX_BUCKET; i++) {
      const n = this.counts[i] ?? 0;
      if (n > 0) buckets.push([i, n]);
    }
    return { buckets, count: this.count, maxUs: this.maxUs };
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.maxUs = 0;
  }
}
