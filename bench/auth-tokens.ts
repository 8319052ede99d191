/**
 * Sync-token issuance throughput (auth-server). Prints one JSON line per case:
 *   raw_ed25519_sign   node:crypto Ed25519 signatures/s over a token-sized payload (the ceiling)
 *   issue_single       tokens/s issuing one document per call, in process (membership query + JWT signing)
 *   issue_batch_100    tokens/s issuing 100 room documents per call, in process
 *   http_single        tokens/s over HTTP, POST /api/auth/sync-token {document}, 16 requests in flight
 *   http_batch_100     tokens/s over HTTP, POST /api/auth/sync-token {documents: [100]}, 4 requests in flight
 * each with `ratioToRawSign`, and a `comparison` line per case against that ceiling (bench/src/mode.ts).
 * Run: BENCH_MODE=smoke|quick|full npx tsx bench/auth-tokens.ts (seconds per case: 0.3 / 1 / 5).
 * Requirement (docs/auth.md): ≥ 5,000 tokens/s from one process.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadAuthConfig, startAuthServer } from '@confab/auth-server';
import { createInProcessBus, createLogger, openDatabase } from '@confab/platform';
import { byMode, printComparison } from './src/mode';

// Five cases plus setup (register, 100 rooms): smoke ~3 s, quick ~8 s.
const durationMs = byMode({ smoke: 300, quick: 1000, full: 5000 });

function line(data: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ bench: 'auth-tokens', ...data })}\n`);
}

async function rate(run: () => Promise<number> | number): Promise<number> {
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  let done = 0;
  while (performance.now() < deadline) done += await run();
  return done / ((performance.now() - started) / 1000);
}

const { privateKey } = generateKeyPairSync('ed25519');
const payload = Buffer.from(
  `eyJhbGciOiJFZERTQSIsImtpZCI6ImFiY2RlZmdoaWprbG1ub3AiLCJ0eXAiOiJKV1QifQ.${'x'.repeat(220)}`,
);
const raw = await rate(() => {
  for (let i = 0; i < 100; i++) sign(null, payload, privateKey);
  return 100;
});
line({ case: 'raw_ed25519_sign', perSecond: Math.round(raw) });

const database = openDatabase({ dataDir: '.', sqliteFile: ':memory:' });
const logger = createLogger({ name: 'bench', level: 'silent' });
const bus = await createInProcessBus({ database, logger });
const config = loadAuthConfig({ PUBLIC_URL: 'http://bench.local' });
const handle = await startAuthServer({ config, logger, database, bus });
const server = http.createServer((req, res) => handle.handleRequest(req, res));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function post(path: string, body: unknown, token?: string) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: the bench reads a few known fields
  return res.json() as Promise<Record<string, any>>;
}

const registered = await post('/api/auth/register', {
  email: 'bench@example.com',
  password: 'benchmark password',
  displayName: 'Bench',
});
const token: string = registered.token;
const userId: string = registered.user.id;
const rooms: string[] = [];
for (let i = 0; i < 100; i++) rooms.push((await post('/api/rooms', { name: `Room ${i}` }, token)).room.id);
const documents = rooms.map((id) => `room:${id}`);
const sessionId = (
  (await (await fetch(`${base}/api/auth/sessions`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
    sessions: { id: string }[];
  }
).sessions[0]!.id;

let next = 0;
const report = (name: string, tokensPerSecond: number, extra: Record<string, unknown> = {}) => {
  line({
    case: name,
    tokensPerSecond: Math.round(tokensPerSecond),
    ratioToRawSign: +(tokensPerSecond / raw).toFixed(3),
    ...extra,
  });
  printComparison('auth-tokens', {
    case: name,
    metric: 'tokens issued',
    unit: 'tokens/s',
    subject: name,
    value: Math.round(tokensPerSecond),
    baseline: 'raw Ed25519 signatures',
    baselineValue: Math.round(raw),
    better: 'higher',
  });
};

report(
  'issue_single',
  await rate(async () => (await handle.issueSyncTokens(userId, sessionId, [documents[next++ % 100]!])).size),
);
report('issue_batch_100', await rate(async () => (await handle.issueSyncTokens(userId, sessionId, documents)).size));

async function concurrently(inFlight: number, call: () => Promise<number>): Promise<number> {
  return rate(async () => (await Promise.all(Array.from({ length: inFlight }, call))).reduce((a, b) => a + b, 0));
}

report(
  'http_single',
  await concurrently(16, async () => {
    const answer = await post('/api/auth/sync-token', { document: documents[next++ % 100] }, token);
    return answer.token ? 1 : 0;
  }),
  { inFlight: 16 },
);
report(
  'http_batch_100',
  await concurrently(
    4,
    async () => Object.keys((await post('/api/auth/sync-token', { documents }, token)).tokens).length,
  ),
  { inFlight: 4 },
);

server.closeAllConnections();
server.close();
await handle.stop();
await bus.close();
await database.close();
