import { createInProcessBus, openDatabase } from '@confab/platform';
import * as jose from 'jose';
import pino from 'pino';
import type * as Y from 'yjs';
import { loadSyncConfig } from '../../../../sync-server/src/config';
import type { UpdateGuard } from '../../../../sync-server/src/extensions/guard-port';
import { checkUserDocumentUpdate, filterAwarenessState, RoomGuard } from '../../../../sync-server/src/guard';
import { startSyncServer } from '../../../../sync-server/src/server';
import type { ServerChildOptions } from '../messages';
import type { RunningServer } from './types';

function roomGuard(): UpdateGuard {
  const guards = new WeakMap<Y.Doc, RoomGuard>();
  return {
    check(doc, document, update, who) {
      if (document.kind === 'user') return checkUserDocumentUpdate(update, who);
      let guard = guards.get(doc);
      if (!guard) {
        guard = new RoomGuard(doc);
        guards.set(doc, guard);
      }
      return guard.check(update, who);
    },
    filterAwareness(states, userId) {
      for (const [id, state] of states) if (!filterAwarenessState(state, userId)) states.delete(id);
    },
  };
}

/**
 * The Confab sync server as production runs it in the all-in-one process:
 * SQLite database (WAL) in a scratch directory, the in-process durable bus,
 * sync tokens verified against a JWKS, the room schema guard on every update.
 */
export async function startConfab(options: ServerChildOptions): Promise<RunningServer> {
  if (!options.publicJwk || !options.dataDir) throw new Error('confab needs publicJwk and dataDir');
  const logger = pino({ level: process.env.BENCH_SERVER_LOG_LEVEL ?? 'warn' }, pino.destination(2));
  const config = loadSyncConfig({
    PORT: '0',
    DATA_DIR: options.dataDir,
    PUBLIC_URL: 'http://localhost:3000',
    SYNC_INSTANCE_ID: 'bench',
    LOG_LEVEL: 'warn',
  });
  const database = openDatabase<unknown>({ dataDir: options.dataDir });
  const bus = await createInProcessBus({ database, logger });
  const jwks = jose.createLocalJWKSet({ keys: [options.publicJwk as jose.JWK] });
  const server = await startSyncServer({
    config,
    logger,
    database,
    bus,
    jwks,
    guard: roomGuard(),
    listen: { port: 0, host: '127.0.0.1' },
  });
  if (!server.port) throw new Error('confab sync server did not report its port');
  return {
    port: server.port,
    path: '/sync?protocolVersion=1',
    stop: async () => {
      await server.stop();
      await bus.close();
      await database.close();
    },
  };
}
