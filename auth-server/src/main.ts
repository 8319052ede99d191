import { runStandalone } from '@confab/platform';
import { loadAuthConfig } from './config';
import { startAuthServer } from './server';

/**
 * Standalone auth-server (`npm start -w auth-server`): its own port (4000),
 * its own database connection, events over NATS. SIGTERM/SIGINT stop it
 * cleanly: stop accepting, let in-flight requests finish (up to 10 s), then
 * close the bus (flushing its outbox) and the database.
 */
await runStandalone({
  name: 'auth-server',
  loadConfig: loadAuthConfig,
  start: (deps) => startAuthServer(deps),
});
