export { MAX_JSON_BODY_BYTES, readJsonBody, validate } from './body';
export { bearerToken, type CookieOptions, clearCookie, readCookie, serializeCookie } from './cookies';
export { errorResponse, HttpError, isHttpError, jsonErrorResponse } from './errors';
export { installHttpKit, type KitEnv, type KitVariables } from './hono';
export { createOpsHandler } from './ops';
export { assertOrigin, isSafeMethod, originOf, originProblem } from './origin';
export { REQUEST_ID_HEADER, requestIdFrom } from './request-id';
