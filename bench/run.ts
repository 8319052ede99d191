/**
 * `npm run bench` (quick, under 5 minutes), `-- --full`, `-- --smoke` (seconds, for CI),
 * `-- --report` (only rebuild docs/benchmarks.md from bench/results/results.jsonl).
 * Options: `--only=fanout,latency,rooms,crdt,others`, `--servers=confab,confab-pg,hocuspocus,y-websocket`, `--no-report`.
 */
import { main } from './src/main';

process.exitCode = await main(process.argv.slice(2));
