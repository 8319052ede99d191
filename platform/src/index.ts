export {
  AuthClientError,
  type AuthClientOptions,
  createHttpDirectory,
  createHttpSessionVerifier,
  type SessionVerifierOptions,
} from './auth-client';
export { createInProcessBus, type InProcessBus, type InProcessBusOptions } from './bus/inprocess';
export type { NatsBus, NatsBusOptions } from './bus/nats';
export { createNatsBus } from './bus/nats-lazy';
export {
  type BusEvent,
  DEAD_LETTER_PREFIX,
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_MAX_DELIVER,
  DEFAULT_RETRY_BACKOFF_MS,
  type DeadLetter,
  type Delivery,
  deadLetterSubject,
  type EventBus,
  type SubscribeOptions,
  type Subscription,
  subjectMatches,
  type TransactionalPublish,
} from './bus/port';
export { ConfigError, emptyAsUndefined, envInteger, envUrl, parseEnv } from './config';
export {
  blobType,
  type Database,
  type DatabaseKind,
  migrate,
  type OpenDatabaseOptions,
  openDatabase,
  type SqliteFile,
  type SqliteStats,
} from './db/database';
export { type GroupCommitOptions, groupCommit } from './db/group-commit';
export { InsertCompiler } from './db/insert-compiler';
export { PgArrayInsert, type PgArrayInsertOptions, type RowInserts } from './db/pg-array-insert';
export { onePerTable, PG_MAX_PARAMETERS, pgSingleStatement } from './db/pg-statement';
export { CHECKPOINT_EVERY_COMMITS, sqliteBatch } from './db/sqlite';
export {
  assertOrigin,
  bearerToken,
  type CookieOptions,
  clearCookie,
  createOpsHandler,
  errorResponse,
  HttpError,
  installHttpKit,
  isHttpError,
  isSafeMethod,
  jsonErrorResponse,
  type KitEnv,
  type KitVariables,
  MAX_JSON_BODY_BYTES,
  originOf,
  originProblem,
  REQUEST_ID_HEADER,
  readCookie,
  readJsonBody,
  requestIdFrom,
  serializeCookie,
  validate,
} from './http';
export { type CreateLoggerOptions, createLogger, type Logger, REDACT_PATHS } from './log';
export { createRegistry, getOrCreate, httpRequestHistogram } from './metrics';
export type { Directory, DirectoryMember, DirectoryUser, ServiceHandle, SessionInfo, SessionVerifier } from './ports';
export { type RunStandaloneOptions, runStandalone, type StandaloneConfig, type StandaloneDeps } from './standalone';
