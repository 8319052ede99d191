import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, type Mode, REPO_DIR, type Recorder } from './results';

/**
 * The other engineers' benchmarks, run when their file exists. Each is a
 * script that prints JSON lines; it gets no arguments (each script has its
 * own defaults, and some read numbers from argv), the pass's mode in the
 * BENCH_MODE environment variable (`smoke`, `quick` or `full`), and a time
 * budget: past it the script's process group is killed and whatever it
 * printed is kept. Its lines
 * are recorded as they are, under `bench: 'other'` with the file's name.
 */
export const OTHER_BENCHES = ['auth-tokens', 'bus', 'guard', 'sync-storage', 'notifier', 'client'] as const;

function runOne(file: string, mode: Mode, budgetMs: number, onLine: (value: unknown) => void) {
  return new Promise<{ exitCode: number | null; timedOut: boolean; nonJsonLines: number; stderrTail: string }>(
    (resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', file], {
        cwd: REPO_DIR,
        env: { ...process.env, BENCH_MODE: mode },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let buffer = '';
      let nonJsonLines = 0;
      let stderrTail = '';
      let timedOut = false;
      const take = (line: string) => {
        if (!line.trim()) return;
        try {
          onLine(JSON.parse(line));
        } catch {
          nonJsonLines++;
        }
      };
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) take(line);
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderrTail = (stderrTail + chunk).slice(-600);
      });
      // The whole process group: a bench may have started servers of its own.
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      }, budgetMs);
      child.on('close', (exitCode) => {
        clearTimeout(timer);
        take(buffer);
        resolve({ exitCode, timedOut, nonJsonLines, stderrTail });
      });
    },
  );
}

export async function runOthers(mode: Mode, budgetMs: number, totalMs: number, record: Recorder): Promise<void> {
  const until = Date.now() + totalMs;
  for (const name of OTHER_BENCHES) {
    const file = path.join(BENCH_DIR, `${name}.ts`);
    if (!fs.existsSync(file)) {
      record({ bench: 'other', source: name, kind: 'missing' });
      continue;
    }
    const started = Date.now();
    const budget = Math.min(budgetMs, until - started);
    if (budget < 1000) {
      record({
        bench: 'other',
        source: name,
        kind: 'skipped',
        reason: 'the pass ran out of its time for other benchmarks',
      });
      continue;
    }
    let lines = 0;
    const outcome = await runOne(file, mode, budget, (value) => {
      lines++;
      record({ bench: 'other', source: name, kind: 'line', line: value });
    });
    record({
      bench: 'other',
      source: name,
      kind: 'outcome',
      lines,
      durationMs: Date.now() - started,
      budgetMs: budget,
      ...outcome,
      stderrTail: outcome.exitCode === 0 ? undefined : outcome.stderrTail,
    });
  }
}
