import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { type RunningApp, startApp } from './support/app';
import { aliceInvitesBob, message, send, shotOnFailure, twoPeople } from './support/browser';

/** The server goes away and comes back (a deploy, a crash): open pages carry on by themselves. */
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
  if (context.task.result?.state === 'fail') await shotOnFailure(context.task.name, { alice, bob });
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
