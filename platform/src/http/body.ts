import type { z } from 'zod';
import { HttpError } from './errors';

/** Bodies above this are refused with 413 before they are parsed. */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

/**
 * Reads a JSON body and validates it: 413 `payload_too_large` above
 * `maxBytes` (checked on Content-Length and again while streaming, so a lying
 * or chunked request cannot get past it), 400 `invalid_json` when it does not
 * parse, 422 `invalid_field` naming the first bad field. An empty body is
 * read as `{}`, so endpoints whose fields are all optional accept none.
 */
export async function readJsonBody<S extends z.ZodType>(
  request: Request,
  schema: S,
  { maxBytes = MAX_JSON_BODY_BYTES }: { maxBytes?: number } = {},
): Promise<z.infer<S>> {
  const text = await readBodyText(request, maxBytes);
  let value: unknown = {};
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text);
    } catch {
      throw new HttpError('invalid_json', 'request body is not valid JSON');
    }
  }
  return validate(schema, value);
}

/** Validates a value, turning the first zod issue into a 422 that names the field. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.map(String).join('.') ?? '';
  if (field === '') throw new HttpError('malformed_request', `request body: ${issue?.message ?? 'invalid'}`);
  throw new HttpError('invalid_field', `${field}: ${issue?.message ?? 'invalid'}`, { field });
}

async function readBodyText(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks));
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError('payload_too_large', `request body is larger than ${maxBytes} bytes`);
}
