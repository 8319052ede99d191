import { createHttpDirectory, createHttpSessionVerifier, runStandalone } from '@confab/platform';
import { loadNotifierConfig } from './config';
import { startNotifier } from './service';

/**
 * Standalone notifier (`npm start -w notifier`, port 4200): events from NATS
 * JetStream, sessions and rooms from auth-server's internal API. SIGTERM or
 * SIGINT: stop consuming (in-flight events finish and are acked), let the
 * running dispatch finish, close the streams, the bus and the database.
 */
await runStandalone({
  name: 'notifier',
  loadConfig: loadNotifierConfig,
  refuse: (config) =>
    config.authUrl && config.internalApiToken
      ? null
      : 'AUTH_URL: must be set (with INTERNAL_API_TOKEN) when the notifier runs as its own process',
  start: ({ config, ...deps }) =>
    startNotifier({
      config,
      ...deps,
      sessions: createHttpSessionVerifier(config.authUrl as string, config.internalApiToken as string),
      directory: createHttpDirectory(config.authUrl as string, config.internalApiToken as string),
    }),
});
