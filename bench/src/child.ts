import { type ChildProcess, fork } from 'node:child_process';
import { REPO_DIR } from './results';

/**
 * A forked child (TypeScript through the tsx loader, or a bundle) spoken to over IPC.
 * The child's stdout goes to our stderr: our stdout carries only JSON lines.
 */
export class Child<In, Out extends { type: string }> {
  readonly proc: ChildProcess;
  private readonly inbox: Out[] = [];
  private waiters: { match: (m: Out) => boolean; resolve: (m: Out) => void }[] = [];
  private exited: Error | null = null;
  private readonly onExit: ((error: Error) => void)[] = [];

  constructor(file: string, args: string[] = [], options: { exposeGc?: boolean; extraArgs?: string[] } = {}) {
    // A bundle (.mjs) runs on plain Node; TypeScript through the tsx loader.
    const execArgv = [
      ...(file.endsWith('.mjs') ? [] : ['--import', 'tsx']),
      ...(options.exposeGc ? ['--expose-gc'] : []),
      ...(options.extraArgs ?? []),
    ];
    // BENCH_NODE_ARGS=<flags> passes Node flags to every child (e.g. --trace-gc, which NODE_OPTIONS refuses).
    if (process.env.BENCH_NODE_ARGS) execArgv.push(...process.env.BENCH_NODE_ARGS.split(' ').filter(Boolean));
    // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every child there (to see where a generator spends);
    // BENCH_CPU_PROF_INTERVAL=<µs> samples more often than V8's 1 ms (200 shows a short hot path).
    if (process.env.BENCH_CPU_PROF)
      execArgv.push(
        '--cpu-prof',
        `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`,
        `--cpu-prof-interval=${process.env.BENCH_CPU_PROF_INTERVAL ?? 1000}`,
      );
    this.proc = fork(file, args, { cwd: REPO_DIR, execArgv, stdio: ['ignore', 2, 2, 'ipc'] });
    this.proc.on('message', (message: Out) => {
      const waiter = this.waiters.find((w) => w.match(message));
      if (waiter) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(message);
      } else this.inbox.push(message);
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = new Error(`${file} exited (code ${code}, signal ${signal})`);
      for (const callback of this.onExit) callback(this.exited);
    });
  }

  send(message: In): void {
    this.proc.send(message as object);
  }

  /** The next message of `type` (or a `failed` message, which rejects), within `timeoutMs`. */
  next<T extends Out['type']>(
    type: T,
    timeoutMs: number,
    match: (m: Extract<Out, { type: T }>) => boolean = () => true,
  ): Promise<Extract<Out, { type: T }>> {
    return new Promise((resolve, reject) => {
      const isIt = (m: Out) => m.type === 'failed' || (m.type === type && match(m as Extract<Out, { type: T }>));
      const done = (m: Out) => {
        clearTimeout(timer);
        if (m.type === 'failed') reject(new Error(`child failed: ${(m as unknown as { error: string }).error}`));
        else resolve(m as Extract<Out, { type: T }>);
      };
      const queued = this.inbox.findIndex(isIt);
      if (queued >= 0) {
        const [m] = this.inbox.splice(queued, 1);
        if (m) done(m);
        return;
      }
      if (this.exited) {
        reject(this.exited);
        return;
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no ${type} from child within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ match: isIt, resolve: done });
      this.onExit.push((error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** Asks the child to stop, and kills it if it has not exited within `graceMs`. */
  async stop(stopMessage: In, graceMs = 3000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    try {
      this.send(stopMessage);
    } catch {
      // The channel may already be closed; the kill below still ends it.
    }
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}
