import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MAX_JSON_BODY_BYTES, readJsonBody } from './body';
import { HttpError } from './errors';

const schema = z.object({ name: z.string().min(1), nested: z.object({ n: z.number() }).optional() });

function request(body: BodyInit | null, headers: Record<string, string> = {}): Request {
  return new Request('http://x/', {
    method: 'POST',
    body,
    headers,
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
}

async function failure(promise: Promise<unknown>): Promise<HttpError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
  throw new Error('expected an HttpError');
}

describe('readJsonBody', () => {
  it('parses and validates a JSON body', async () => {
    expect(await readJsonBody(request('{"name":"a"}'), schema)).toEqual({ name: 'a' });
  });

  it('reads an empty body as {}', async () => {
    expect(await readJsonBody(request(null), z.object({ x: z.string().optional() }))).toEqual({});
  });

  it('answers 400 invalid_json to malformed JSON', async () => {
    const error = await failure(readJsonBody(request('{"name":'), schema));
    expect([error.status, error.code]).toEqual([400, 'invalid_json']);
  });

  it('answers 422 invalid_field naming the nested field', async () => {
    const error = await failure(readJsonBody(request('{"name":"a","nested":{"n":"1"}}'), schema));
    expect([error.status, error.code, error.field]).toEqual([422, 'invalid_field', 'nested.n']);
    expect(error.toBody().error.field).toBe('nested.n');
  });

  it('answers 400 malformed_request to JSON that is not an object at all', async () => {
    const error = await failure(readJsonBody(request('[1,2]'), schema));
    expect([error.status, error.code]).toEqual([400, 'malformed_request']);
  });

  it('answers 413 from Content-Length before reading, and while streaming a body without one', async () => {
    const declared = await failure(
      readJsonBody(request('{}', { 'content-length': String(MAX_JSON_BODY_BYTES + 1) }), schema),
    );
    expect([declared.status, declared.code]).toEqual([413, 'payload_too_large']);
    const chunk = new Uint8Array(16 * 1024).fill(32);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent++;
        if (sent > 100) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const streamed = await failure(readJsonBody(request(stream), schema));
    expect(streamed.status).toBe(413);
    // It stopped reading soon after the limit instead of swallowing all 1.6 MB.
    expect(sent).toBeLessThan(10);
  });
});
