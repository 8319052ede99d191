import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { announceListening } from '@confab/platform/listening';
import next from 'next';
import { CLIENT_DIR } from './build-state';

/**
 * The hand-off to the all-in-one process: the Next.js app behind a request
 * handler, through Next's programmatic API. In production it serves the
 * output of `next build` (run `npm run build -w client`); with `dev: true`
 * it compiles on demand and handles the HMR WebSocket through handleUpgrade.
 */
export interface ClientService {
  name: 'client';
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  ready(): Promise<boolean>;
  stop(): Promise<void>;
}

export { CLIENT_DIR };

/** True when `dir` holds a production build that `next start` can serve. */
export function hasProductionBuild(dir: string = CLIENT_DIR): boolean {
  return existsSync(path.join(dir, '.next', 'BUILD_ID'));
}

export async function startClient({
  dev = false,
  dir = CLIENT_DIR,
}: {
  dev?: boolean;
  dir?: string;
} = {}): Promise<ClientService> {
  if (!dev && !hasProductionBuild(dir)) {
    throw new Error(`no production build of the client in ${dir}/.next: run \`npm run build -w client\` first`);
  }
  // `next` is CommonJS; under some loaders the factory sits on `.default`.
  const factory = ((next as unknown as { default?: typeof next }).default ?? next) as typeof next;
  const app = factory({ dev, dir, customServer: true, quiet: !dev });
  await app.prepare();
  const handle = app.getRequestHandler();
  const upgrade = app.getUpgradeHandler();
  let stopped = false;
  return {
    name: 'client',
    handleRequest(req, res) {
      handle(req, res).catch((error: unknown) => {
        // Next answers its own errors; this only catches a broken handler, so the process keeps serving.
        if (!res.headersSent) {
          res.statusCode = 500;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ error: { code: 'internal', message: 'the web app failed to render' } }));
        } else res.destroy(error as Error);
      });
    },
    handleUpgrade(req, socket, head) {
      upgrade(req, socket, head).catch(() => socket.destroy());
    },
    async ready() {
      return !stopped;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.close();
    },
  };
}

// Run alone: `npm start -w client` (after `npm run build -w client`).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { loadConfig } = await import('./config');
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
  const client = await startClient({ dev: config.NODE_ENV === 'development' });
  // /healthz, /readyz and /metrics are the app's own route handlers (lib/ops.ts), as in its image.
  const server = createServer((req, res) => client.handleRequest(req, res));
  server.on('upgrade', (req, socket, head) => client.handleUpgrade(req, socket, head));
  server.listen(config.PORT, config.HOST, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    process.stdout.write(`client listening on ${port}\n`);
    announceListening(port);
  });
  const shutdown = () => {
    server.close();
    void client.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
