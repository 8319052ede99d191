export { type AuthConfig, loadAuthConfig } from './config';
export type { SyncToken } from './core';
export { type AuthServerHandle, type StartAuthServerOptions, startAuthServer } from './server';
