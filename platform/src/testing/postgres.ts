import pg from 'pg';
import { SERVICES, uniqueSuffix } from './services';

/**
 * A fresh PostgreSQL database for one test file, dropped by `drop()`.
 * Tests share the server, never a database.
 */
export async function createTestPostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = new pg.Client({ connectionString: SERVICES.postgres.url });
  await admin.connect();
  const name = `confab_t_${uniqueSuffix()}`.toLowerCase();
  await admin.query(`create database "${name}"`);
  await admin.end();
  const url = new URL(SERVICES.postgres.url);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: SERVICES.postgres.url });
      await c.connect();
      await c.query(`drop database if exists "${name}" with (force)`);
      await c.end();
    },
  };
}
