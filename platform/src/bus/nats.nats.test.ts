import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { describe } from 'vitest';
import { openDatabase } from '../db/database';
import { needService, SERVICES, uniqueSuffix } from '../testing';
import { runBusContract } from './contract';
import { createNatsBus } from './nats';

const nats = await needService('nats');

describe.skipIf(!nats)('NATS JetStream bus', () => {
  runBusContract('NATS JetStream', async () => {
    const suffix = uniqueSuffix().replace(/[^A-Za-z0-9]/g, '');
    const stream = `CONFAB_T_${suffix}`;
    const subjectPrefix = `t${suffix}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-bus-nats-'));
    const database = openDatabase({ dataDir: dir });
    const logger = pino({ level: 'silent' });
    return {
      createBus: () =>
        createNatsBus({ url: SERVICES.nats.url, database, logger, stream, subjectPrefix, reconnectDelayMs: 100 }),
      teardown: async () => {
        const nc = await connect({ servers: SERVICES.nats.url });
        const jsm = await jetstreamManager(nc);
        await jsm.streams.delete(stream).catch(() => false);
        await nc.close();
        await database.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});
