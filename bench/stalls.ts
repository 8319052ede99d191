/**
 * Reads the stall records BENCH_STALLS=<dir> left there (see src/fanout/stalls.ts) and prints, per
 * server process and held step, how long its event loop was held, by what collections, and how long
 * its main thread waited for a CPU.
 *
 *   npx tsx bench/stalls.ts <dir> [--step-seconds=5]
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type StallRecord, summarizeSteps } from './src/fanout/stalls';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: npx tsx bench/stalls.ts <dir> [--step-seconds=5]');
  process.exit(2);
}
const stepArg = process.argv.find((a) => a.startsWith('--step-seconds='));
const stepSeconds = stepArg ? Number(stepArg.split('=')[1]) : 5;
const kinds: Record<number, string> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weak callbacks' };

for (const file of readdirSync(dir).filter((f) => f.endsWith('.stalls.json'))) {
  const record = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as StallRecord;
  console.log(file.replace('.stalls.json', ''));
  for (const step of summarizeSteps(record, stepSeconds * 0.9, stepSeconds * 1.4)) {
    const long = step.longStalls
      .map(
        (s) =>
          `${s.ms}${s.collections.length ? `[${s.collections.map((c) => `${kinds[c.kind] ?? c.kind} ${c.ms}`).join(', ')}]` : ''}`,
      )
      .join(' ');
    const cpu = step.runMs === undefined ? '' : `, on CPU ${step.runMs} ms, waiting for one ${step.waitMs} ms`;
    console.log(
      `  ${step.seconds} s: ${step.stalls} stalls (${step.stallMs} ms); ${step.minor} minor collections (${step.minorMs} ms), ` +
        `${step.major} major (${step.majorMs} ms)${cpu}${long ? `; 8 ms and more: ${long}` : ''}`,
    );
  }
}
