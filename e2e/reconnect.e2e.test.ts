import path from 'node:path';
import SQLite from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { type RunningApp, startApp } from './support/app';
import { aliceInvitesBob, message, send, shot, shotOnFailure, twoPeople } from './support/browser';

/**
 * The server goes away and comes back (a deploy, a crash), or cannot store a room for a while: open
 * pages say so and carry on by themselves.
 */
let app: RunningApp;
let browser: Browser;
let alice: Page;
let bob: Page;

beforeAll(async () => {
  app = await startApp();
  ({ browser, alice, bob } = await twoPeople(app.url));
  await aliceInvitesBob({ alice, bob }, 'Restarts');
});

afterEach(async (context) => {
  if (context.task.result?.state !== 'fail') return;
  await shotOnFailure(context.task.name, { alice, bob });
  // Why a page stopped: the updates the server refused, from its log.
  console.log(
    app
      .output()
      .split('\n')
      .filter((line) => line.includes('update refused'))
      .join('\n'),
  );
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

describe('a server restart', () => {
  it('keeps what was written while the server was down and delivers it once it is back', async () => {
    await send(alice, 'Before the restart');
    await message(bob, 'Before the restart').waitFor();

    const restarting = app.restart();
    // While it is down, Alice keeps writing: the message is kept here as pending.
    await alice
      .getByRole('status')
      .filter({ hasText: /Reconnecting|Connecting|Offline/ })
      .first()
      .waitFor();
    await send(alice, 'Written while the server restarts');
    await message(alice, 'Written while the server restarts').getByText('pending').waitFor();
    await restarting;

    // Both pages reconnect by themselves (fresh sync tokens), and the message arrives and settles.
    await message(bob, 'Written while the server restarts').waitFor({ timeout: 60_000 });
    await message(alice, 'Written while the server restarts').getByText('pending').waitFor({ state: 'detached' });
    await send(bob, 'And the conversation goes on');
    await message(alice, 'And the conversation goes on').waitFor();
  });

  it('shows each person online to the other again within 2 s of reconnecting, without either doing anything', async () => {
    const onlineCount = (page: Page) => page.getByRole('status').filter({ hasText: /^\d+ online$/ });
    await onlineCount(bob).filter({ hasText: '2 online' }).waitFor();
    await app.restart();
    // Back and synced (the pill shows a count only when synced): then the other must follow within 2 s. Without
    // a re-announcement the peer's old presence clock hides each of them until they next type.
    await Promise.all([onlineCount(alice).waitFor({ timeout: 60_000 }), onlineCount(bob).waitFor({ timeout: 60_000 })]);
    await Promise.all([
      onlineCount(alice).filter({ hasText: '2 online' }).waitFor({ timeout: 2000 }),
      onlineCount(bob).filter({ hasText: '2 online' }).waitFor({ timeout: 2000 }),
    ]);
  });
});

describe('a room the server cannot store for a while', () => {
  it('says it is retrying, keeps the message pending, and delivers it once the database takes writes again', async () => {
    await send(alice, 'Before storage fails');
    await message(bob, 'Before storage fails').waitFor();
    // The all-in-one's own database file, opened beside it: the room's log refuses every new row.
    const database = new SQLite(path.join(app.dataDir, 'confab.db'));
    try {
      database.pragma('busy_timeout = 5000');
      database.exec(
        "create trigger e2e_refuse_appends before insert on sync_updates begin select raise(abort, 'e2e: storage refuses'); end",
      );
      await send(alice, 'Written while storage refuses');
      // The append failed: the server closed the room's sockets with try_again_later, and the page says why.
      await alice.getByRole('status').filter({ hasText: 'Retrying · changes kept here' }).waitFor({ timeout: 30_000 });
      await alice.getByText('The server could not open or save this room just now; retrying.').waitFor();
      await message(alice, 'Written while storage refuses').getByText('pending').waitFor();
      await shot(alice, 'retrying-desktop');
      database.exec('drop trigger e2e_refuse_appends');
    } finally {
      database.close();
    }
    // The next try stores it: acknowledged on Alice's side, delivered to Bob, and the line is gone.
    await message(alice, 'Written while storage refuses')
      .getByText('pending')
      .waitFor({ state: 'detached', timeout: 60_000 });
    await message(bob, 'Written while storage refuses').waitFor({ timeout: 30_000 });
    await alice
      .getByText('The server could not open or save this room just now; retrying.')
      .waitFor({ state: 'detached' });
    await send(bob, 'Storage is back');
    await message(alice, 'Storage is back').waitFor();
  });
});
