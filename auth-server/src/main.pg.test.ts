import { createTestPostgres, needService, SERVICES, uniqueSuffix, waitFor } from '@confab/platform/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, registerUser, TEST_INTERNAL_TOKEN } from './test-support/harness';
import { type RunningProcess, spawnMain } from './test-support/process';

const postgres = await needService('postgres');
const nats = await needService('nats');

describe.skipIf(!postgres || !nats)('standalone auth-server on PostgreSQL and NATS', () => {
  let db: Awaited<ReturnType<typeof createTestPostgres>>;
  let run: RunningProcess;
  let url: string;
  const suffix = uniqueSuffix().replace(/[^A-Za-z0-9]/g, '');
  const stream = `CONFAB_AUTH_T_${suffix}`;

  beforeAll(async () => {
    db = await createTestPostgres();
    run = spawnMain({
      PORT: '0',
      DATABASE_URL: db.url,
      NATS_URL: SERVICES.nats.url,
      NATS_STREAM: stream,
      NATS_SUBJECT_PREFIX: `t${suffix}`,
      INTERNAL_API_TOKEN: TEST_INTERNAL_TOKEN,
      PUBLIC_URL: 'http://chat.test:3000',
      LOG_LEVEL: 'info',
    });
    const port = await waitFor(
      () => {
        const line = run
          .stdout()
          .split('\n')
          .find((l) => l.includes('auth-server listening'));
        return line ? (JSON.parse(line) as { port: number }).port : null;
      },
      { timeoutMs: 20_000, message: `the auth server to listen (stderr: ${run.stderr()})` },
    );
    url = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    if (run.child.exitCode === null) {
      run.child.kill('SIGKILL');
      await run.exited;
    }
    await db.drop();
    const nc = await connect({ servers: SERVICES.nats.url });
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
    await nc.close();
  });

  it('serves the API with its tables in PostgreSQL', async () => {
    const api = apiClient(url);
    const user = await registerUser(api);
    expect((await api('GET', '/api/auth/me', { token: user.token })).body.user.id).toBe(user.userId);
    const room = await api('POST', '/api/rooms', { token: user.token, body: { name: 'On PG' } });
    expect(room.status).toBe(201);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query('select count(*)::int as n from auth_members where user_id = $1', [
        user.userId,
      ]);
      expect(rows[0].n).toBe(1);
      const keys = await client.query('select kid from auth_keys');
      expect(keys.rows).toHaveLength(1);
    } finally {
      await client.end();
    }
  });

  it('answers /healthz, /readyz (database and NATS) and /metrics with process metrics', async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await fetch(`${url}/metrics`).then((r) => r.text());
    expect(metrics).toContain('process_cpu_user_seconds_total');
    expect(metrics).toContain('confab_auth_registrations_total');
  });

  it('keeps passwords and tokens out of its logs', async () => {
    const api = apiClient(url);
    const user = await registerUser(api);
    await api('POST', '/api/auth/login', { body: { email: user.email, password: 'a wrong password' } });
    expect(run.stdout()).not.toContain(user.token);
    expect(run.stdout()).not.toContain(user.password);
  });

  it('stops cleanly on SIGTERM with exit code 0', async () => {
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toContain('"msg":"stopped"');
  });
});
