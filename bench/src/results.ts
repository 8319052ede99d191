import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { uuidv7 } from '@confab/protocol';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(BENCH_DIR, '..');
export const RESULTS_FILE = path.join(BENCH_DIR, 'results', 'results.jsonl');

export type Mode = 'smoke' | 'quick' | 'full';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  /** 1-minute load average when the run started: other work on the machine skews every figure. */
  loadAverage1m: number;
}

export interface RunContext {
  runId: string;
  startedAt: string;
  mode: Mode;
  command: string;
  commit: string;
  machine: Machine;
}

export function machineInfo(): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage1m: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  };
}

export function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: REPO_DIR, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'bench', 'sync-server', 'platform', 'protocol'], {
      cwd: REPO_DIR,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

export function createRunContext(mode: Mode, command: string): RunContext {
  return {
    runId: uuidv7(),
    startedAt: new Date().toISOString(),
    mode,
    command,
    commit: gitCommit(),
    machine: machineInfo(),
  };
}

/** One benchmark figure set; `bench` names the suite, the rest is the suite's own shape. */
export interface ResultLine {
  bench: string;
  [key: string]: unknown;
}

export interface StoredLine extends ResultLine {
  runId: string;
  mode: Mode;
  commit: string;
  machine: Machine;
  at: string;
}

/**
 * Prints a result as one JSON line and appends it to bench/results/results.jsonl,
 * which the report step reads. Appending (never rewriting) keeps earlier runs
 * for comparison; the report picks the latest run per suite.
 */
export function createRecorder(run: RunContext, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {
  fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  return (result: ResultLine): StoredLine => {
    const stored: StoredLine = {
      ...result,
      runId: run.runId,
      mode: run.mode,
      commit: run.commit,
      machine: run.machine,
      at: new Date().toISOString(),
    };
    const line = JSON.stringify(stored);
    fs.appendFileSync(RESULTS_FILE, `${line}\n`);
    out(line);
    return stored;
  };
}

export type Recorder = ReturnType<typeof createRecorder>;

export function readResults(file: string = RESULTS_FILE): StoredLine[] {
  if (!fs.existsSync(file)) return [];
  const lines: StoredLine[] = [];
  for (const text of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!text.trim()) continue;
    try {
      lines.push(JSON.parse(text) as StoredLine);
    } catch {
      // A line cut short by a killed run is skipped, not fatal: the other runs still report.
    }
  }
  return lines;
}
