import { describe, expect, it } from 'vitest';
import { createApi, describeFailure } from './api';

const respond =
  (status: number, body?: unknown, contentType = 'application/json') =>
  async () =>
    new Response(body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body), {
      status,
      headers: { 'content-type': contentType },
    });

describe('api client', () => {
  it('returns the CONTRACT error code and message of a refused call as a value', async () => {
    const api = createApi({
      fetch: respond(422, { error: { code: 'invalid_field', message: 'name must be 1 to 100 characters' } }),
    });
    expect(await api.createRoom({ name: '' })).toEqual({
      ok: false,
      status: 422,
      code: 'invalid_field',
      message: 'name must be 1 to 100 characters',
    });
  });

  it('keeps the field a 422 names', async () => {
    const api = createApi({
      fetch: respond(422, {
        error: { code: 'invalid_field', message: 'the current password is wrong', field: 'currentPassword' },
      }),
    });
    expect(await api.changePassword({ currentPassword: 'x', newPassword: 'y'.repeat(10) })).toEqual({
      ok: false,
      status: 422,
      code: 'invalid_field',
      message: 'the current password is wrong',
      field: 'currentPassword',
    });
  });

  it('reports a network failure as offline, with a sentence for the user', async () => {
    const api = createApi({
      fetch: async () => {
        throw new TypeError('Failed to fetch');
      },
    });
    const result = await api.rooms();
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.code).toBe('offline');
      expect(describeFailure(result)).toMatch(/offline/);
    }
  });

  it('copes with an error page that is not JSON', async () => {
    const api = createApi({ fetch: respond(502, '<html>bad gateway</html>', 'text/html') });
    expect(await api.me()).toEqual({
      ok: false,
      status: 502,
      code: 'unknown',
      message: 'request failed with status 502',
    });
  });

  it('sends JSON with the session cookie and accepts 204 answers', async () => {
    const seen: RequestInit[] = [];
    const api = createApi({
      baseUrl: 'http://x',
      fetch: async (_url, init) => {
        seen.push(init ?? {});
        return new Response(null, { status: 204 });
      },
    });
    expect(await api.setMemberRole('r1', 'u1', 'reader')).toEqual({ ok: true, status: 204, data: undefined });
    expect(seen[0]).toMatchObject({
      method: 'PATCH',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'reader' }),
    });
  });
});
