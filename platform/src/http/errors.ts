import { ERROR_STATUS, type ErrorBody, type ErrorCode, errorBody } from '@confab/protocol';

/**
 * An expected failure that ends a request, with its kind from the closed
 * ErrorCode set. The status comes from ERROR_STATUS, the one table that maps
 * kinds to statuses, so a handler can never answer 403 with `not_found`.
 */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly code: ErrorCode;
  readonly field: string | undefined;
  /** Extra response headers, e.g. Retry-After on 429. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { field?: string; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.field = options.field;
    this.headers = options.headers ?? {};
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return errorBody(this.code, this.message, this.field);
  }
}

export function isHttpError(value: unknown): value is HttpError {
  return value instanceof HttpError;
}

/**
 * The response for any thrown value. Unknown errors become a bare 500
 * `internal`: their message and stack go to the log, never to the client.
 */
export function errorResponse(error: unknown): {
  status: number;
  body: ErrorBody;
  headers: Readonly<Record<string, string>>;
  expected: boolean;
} {
  if (isHttpError(error)) return { status: error.status, body: error.toBody(), headers: error.headers, expected: true };
  return { status: 500, body: errorBody('internal', 'internal error'), headers: {}, expected: false };
}

export function jsonErrorResponse(error: unknown): Response {
  const { status, body, headers } = errorResponse(error);
  return Response.json(body, { status, headers });
}
