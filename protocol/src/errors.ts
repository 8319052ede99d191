/**
 * The closed set of error kinds that cross a boundary (HTTP bodies, WebSocket
 * close reasons), and the status each maps to. Clients switch on `code`.
 */
export const ERROR_STATUS = {
  malformed_request: 400,
  invalid_json: 400,
  unauthenticated: 401,
  invalid_credentials: 401,
  session_expired: 401,
  forbidden: 403,
  bad_origin: 403,
  not_found: 404,
  conflict: 409,
  email_taken: 409,
  invite_exhausted: 409,
  invite_expired: 410,
  payload_too_large: 413,
  invalid_field: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; field?: string };
}

export function errorBody(code: ErrorCode, message: string, field?: string): ErrorBody {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_STATUS, value);
}
