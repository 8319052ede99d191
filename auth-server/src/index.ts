export { type AuthConfig, loadAuthConfig } from './config';
export { SESSION_COOKIE, type SyncToken } from './core';
export { SESSION_POLICY } from './domain/session';
export { MAX_DOCUMENTS_PER_BATCH, SYNC_TOKEN_TTL_MS } from './domain/sync-grant';
export { type AuthServerHandle, type StartAuthServerOptions, startAuthServer } from './server';
