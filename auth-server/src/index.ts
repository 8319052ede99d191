export { type AuthConfig, loadAuthConfig } from './config';
export { type AuthServerHandle, type StartAuthServerOptions, startAuthServer } from './server';
