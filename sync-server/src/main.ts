import { runStandalone } from '@confab/platform';
import { createRemoteJWKSet } from 'jose';
import { loadSyncConfig, requireStandalone } from './config';
import { startSyncServer } from './server';

/**
 * Standalone sync-server (`npm start -w sync-server`): port 4100, the
 * WebSocket at `/sync` and `/`, `/healthz`, `/readyz`, `/metrics`. Events
 * over NATS; sync tokens verified against AUTH_URL's JWKS. SIGTERM/SIGINT:
 * refuse new sockets, close the open ones with 1001, wait for appends in
 * flight and for documents to unload, hand pending events to the bus, close.
 */
await runStandalone({
  name: 'sync-server',
  loadConfig: (env) => {
    const config = loadSyncConfig(env);
    requireStandalone(config);
    return config;
  },
  start: ({ config, ...deps }) =>
    startSyncServer({
      config,
      ...deps,
      jwks: createRemoteJWKSet(new URL('/api/auth/jwks', config.authUrl), { cooldownDuration: 30_000 }),
      listen: { port: config.port },
    }),
});
