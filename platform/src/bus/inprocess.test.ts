import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { openDatabase } from '../db/database';
import { runBusContract } from './contract';
import { createInProcessBus } from './inprocess';

runBusContract('in-process on SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-bus-'));
  const database = openDatabase({ dataDir: dir });
  const logger = pino({ level: 'silent' });
  return {
    createBus: () => createInProcessBus({ database, logger, pollIntervalMs: 200 }),
    teardown: async () => {
      await database.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});
