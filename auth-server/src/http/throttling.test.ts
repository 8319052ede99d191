import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, registerUser, startTestAuthServer, type TestAuthServer } from '../test-support/harness';

let server: TestAuthServer;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  // Behind a trusted proxy so each test can act from its own address.
  server = await startTestAuthServer({ env: { TRUST_PROXY: '1' } });
  api = apiClient(server.url);
});
afterAll(() => server.stop());

let ipCounter = 0;
const newIp = () => `198.51.100.${++ipCounter}`;

function login(email: string, password: string, ip: string) {
  return api('POST', '/api/auth/login', { body: { email, password }, headers: { 'x-forwarded-for': ip } });
}

describe('login throttling', () => {
  it('does not lock out a user who mistypes twice', async () => {
    const user = await registerUser(api);
    const ip = newIp();
    expect((await login(user.email, 'typo number one', ip)).status).toBe(401);
    expect((await login(user.email, 'typo number two', ip)).status).toBe(401);
    expect((await login(user.email, user.password, ip)).status).toBe(200);
  });

  it('answers 429 with Retry-After after 5 failures for an account, even to the right password, from any address', async () => {
    const user = await registerUser(api);
    for (let i = 0; i < 5; i++) expect((await login(user.email, `wrong ${i} password`, newIp())).status).toBe(401);
    const blocked = await login(user.email, user.password, newIp());
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('rate_limited');
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);

    server.clock.advance(retryAfter * 1000);
    expect((await login(user.email, user.password, newIp())).status).toBe(200);
  });

  it('refills the account after a successful login, so earlier mistakes are forgotten', async () => {
    const user = await registerUser(api);
    const ip = newIp();
    for (let i = 0; i < 4; i++) await login(user.email, 'wrong password!', ip);
    expect((await login(user.email, user.password, ip)).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await login(user.email, 'wrong password!', ip)).status).toBe(401);
    expect((await login(user.email, user.password, ip)).status).toBe(200);
  });

  it('throttles one address guessing across many accounts, and not other addresses', async () => {
    const attacker = newIp();
    for (let i = 0; i < 50; i++) {
      expect((await login(`victim${i}@example.com`, 'guess guess guess', attacker)).status).toBe(401);
    }
    const blocked = await login('victim-next@example.com', 'guess guess guess', attacker);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    const user = await registerUser(api);
    expect((await login(user.email, user.password, newIp())).status).toBe(200);
  });

  it('lets at most 5 of 20 parallel wrong guesses at one account reach the password check', async () => {
    const user = await registerUser(api);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => login(user.email, `parallel guess ${i}`, newIp())),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(15);
  });

  it('throttles unknown emails like known ones, so 429 does not reveal which accounts exist', async () => {
    for (let i = 0; i < 5; i++) await login('ghost@example.com', 'wrong password!', newIp());
    expect((await login('ghost@example.com', 'wrong password!', newIp())).status).toBe(429);
  });
});
