import { Server } from '@hocuspocus/server';
import type { RunningServer } from './types';

/** Bare @hocuspocus/server 4: no extensions, no auth, no storage. What "just use Hocuspocus" gives. */
export async function startHocuspocus(): Promise<RunningServer> {
  const server = new Server({ port: 0, address: '127.0.0.1', quiet: true, stopOnSignals: false });
  await server.listen();
  return {
    port: server.address.port,
    path: '/',
    stop: () => server.destroy(),
    loadedDocuments: () => server.hocuspocus.getDocumentsCount(),
  };
}
