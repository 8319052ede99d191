import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from './support/app';
import {
  createRoom,
  criticalViolations,
  launchBrowser,
  newUserContext,
  send,
  shot,
  shotOnFailure,
  signUp,
  waitForSynced,
} from './support/browser';

/** Accessibility (axe: no critical violations) and screenshots of the main screens, desktop and a 360 px phone. */
let app: RunningApp;
let browser: Browser;
let current: Page | null = null;

beforeAll(async () => {
  app = await startApp();
  browser = await launchBrowser();
});

afterEach(async (context) => {
  if (context.task.result?.state === 'fail' && current) await shotOnFailure(context.task.name, { page: current });
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

async function checkScreen(page: Page, name: string) {
  await shot(page, name);
  expect(await criticalViolations(page), `critical axe violations on ${name}`).toEqual([]);
}

describe.each([
  { label: 'desktop', viewport: { width: 1280, height: 800 } },
  { label: 'phone', viewport: { width: 360, height: 740 } },
])('main screens on $label', ({ label, viewport }) => {
  it('have no critical accessibility violations and lay out as a chat app should', async () => {
    const context = await newUserContext(browser, app.url, viewport);
    const page = await context.newPage();
    current = page;
    await page.goto('/login');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await checkScreen(page, `login-${label}`);
    await page.goto('/register');
    await checkScreen(page, `register-${label}`);
    await page.goto('/reset-password');
    await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
    await checkScreen(page, `reset-password-${label}`);
    await page.goto('/reset-password?token=abcdefghijklmnopqrstuvwxyz234567');
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    await checkScreen(page, `reset-password-new-${label}`);

    await signUp(page, label === 'phone' ? 'Pat Phone' : 'Dee Desk');
    await checkScreen(page, `chat-empty-${label}`);
    await createRoom(page, `Screens ${label}`, 'A room for screenshots');
    await waitForSynced(page);
    await send(page, 'A message with **bold**, *italic*, `code` and https://example.org');
    await send(page, 'A second message\nwith two lines');
    await page.getByText('with two lines').waitFor();
    // A short room's messages sit at the bottom of the log, next to the composer, not under the header.
    const log = page.getByRole('log', { name: 'Messages' });
    const gapBelowLast = async () => {
      const [box, last] = await Promise.all([log.boundingBox(), log.locator('article').last().boundingBox()]);
      return box && last ? box.y + box.height - (last.y + last.height) : Number.NaN;
    };
    await expect.poll(gapBelowLast).toBeLessThan(60);
    // "1 online" stays on one line beside a long room name.
    const pill = page.getByRole('status').filter({ hasText: 'online' });
    expect((await pill.boundingBox())?.height).toBeLessThan(24);
    await checkScreen(page, `room-${label}`);
    // Offline, the room keeps as much of its name in view as online: on a phone the pill says only
    // "Offline" (the rest is for screen readers); it used to squeeze the name to its first letter.
    const title = page.getByRole('heading', { level: 1, name: `Screens ${label}` });
    const titleWidth = async () => (await title.boundingBox())?.width ?? 0;
    const onlineWidth = await titleWidth();
    await context.setOffline(true);
    await page.getByRole('status').filter({ hasText: 'Offline · changes kept here' }).waitFor();
    expect(await titleWidth()).toBeGreaterThanOrEqual(onlineWidth - 8);
    await checkScreen(page, `room-offline-${label}`);
    await context.setOffline(false);
    await waitForSynced(page);
    await page.getByRole('button', { name: 'Settings' }).click();
    await checkScreen(page, `room-settings-${label}`);
    await page.goto('/chat');
    await page.getByText(/A second message/).waitFor();
    await checkScreen(page, `chat-${label}`);
    await page.goto('/profile');
    await page.getByRole('heading', { name: 'Devices and sessions' }).waitFor();
    // The device by name, not its user-agent string (which stays in the tooltip).
    const device = page.locator('.sessions li span[title]').first();
    await expect(device.textContent()).resolves.toMatch(/^Chrome on Linux \(this device\)/);
    await expect(device.getAttribute('title')).resolves.toContain('Mozilla/5.0');
    await checkScreen(page, `profile-${label}`);
    // The notification panel opens inside the screen, not off its left edge on a phone.
    await page.getByRole('button', { name: /^Notifications/ }).click();
    const panel = page.getByRole('region', { name: 'Notifications' });
    await panel.waitFor();
    const box = await panel.boundingBox();
    expect(box?.x).toBeGreaterThanOrEqual(0);
    expect((box?.x ?? 0) + (box?.width ?? Number.POSITIVE_INFINITY)).toBeLessThanOrEqual(viewport.width);
    await checkScreen(page, `notifications-${label}`);
    await context.close();
  });
});

describe('on a touch phone', () => {
  it('starts a new line on Enter, sends with the Send button and keeps the keyboard up', async () => {
    const context = await browser.newContext({
      baseURL: app.url,
      viewport: { width: 360, height: 740 },
      hasTouch: true,
    });
    context.setDefaultTimeout(20_000);
    const page = await context.newPage();
    current = page;
    await signUp(page, 'Tess Touch');
    await createRoom(page, 'Thumbs');
    await waitForSynced(page);
    const box = page.getByLabel('Message', { exact: true });
    await expect(box.getAttribute('placeholder')).resolves.toBe('Write a message');
    await box.tap();
    await page.keyboard.type('first line');
    await page.keyboard.press('Enter');
    await page.keyboard.type('second line');
    // Enter sent nothing: the text box holds both lines.
    await expect(box.inputValue()).resolves.toBe('first line\nsecond line');
    expect(await page.getByRole('log', { name: 'Messages' }).locator('article').count()).toBe(0);

    await page.getByRole('button', { name: 'Send' }).tap();
    const sent = page.getByRole('log', { name: 'Messages' }).locator('article', { hasText: 'second line' });
    await sent.waitFor();
    await expect(sent.textContent()).resolves.toContain('first line');
    await expect(box.inputValue()).resolves.toBe('');
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('composer');

    // Ctrl+Enter still sends (a phone with a hardware keyboard).
    await page.keyboard.type('from a keyboard');
    await page.keyboard.press('Control+Enter');
    await page.getByRole('log', { name: 'Messages' }).locator('article', { hasText: 'from a keyboard' }).waitFor();
    await context.close();
  });
});

describe('profile', () => {
  it('saves the display name and the notification preferences, which survive a reload', async () => {
    const context = await newUserContext(browser, app.url);
    const page = await context.newPage();
    current = page;
    await signUp(page, 'Prefs Person');
    await page.goto('/profile');
    await page.getByLabel('Display name').fill('Preferred Name');
    await page.getByRole('button', { name: 'Save name' }).click();
    await page.getByText('Display name saved.').waitFor();

    await page.getByLabel('Notify me about').selectOption('mentions');
    await page.getByText('Notification preferences saved.').waitFor();
    await page.getByLabel('Email me about messages I have not read').uncheck();
    await page.getByLabel('Email after (minutes unread)').fill('30');
    await page.getByLabel('Quiet hours (no push or email)').check();
    await page.getByLabel('From').fill('21:30');
    await page.getByLabel('Until').fill('06:45');
    await page.getByLabel('Time zone').fill('Europe/Berlin');
    await page.getByRole('button', { name: 'Save email and quiet hours' }).click();
    await expect
      .poll(async () => (await (await page.request.get('/api/notifications/preferences')).json()).quietHours)
      .toEqual({ start: '21:30', end: '06:45', timeZone: 'Europe/Berlin' });

    await page.reload();
    await expect(page.getByLabel('Display name').inputValue()).resolves.toBe('Preferred Name');
    await expect(page.getByLabel('Notify me about').inputValue()).resolves.toBe('mentions');
    await expect(page.getByLabel('Email me about messages I have not read').isChecked()).resolves.toBe(false);
    await expect(page.getByLabel('Email after (minutes unread)').inputValue()).resolves.toBe('30');
    await expect(page.getByLabel('Time zone').inputValue()).resolves.toBe('Europe/Berlin');
    await context.close();
  });
});

describe('keyboard', () => {
  it('signs in, writes, and reaches the actions of a message with the keyboard alone', async () => {
    const context = await newUserContext(browser, app.url);
    const page = await context.newPage();
    current = page;
    const { email, password } = await signUp(page, 'Kim Keys');
    await createRoom(page, 'Keys');
    await waitForSynced(page);
    await page.goto('/profile');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL('**/login**');
    // Signed out on purpose: the plain login screen, not "come back to /profile".
    expect(new URL(page.url()).search).toBe('');

    // Email, password, Enter: no mouse.
    await page.getByLabel('Email').focus();
    await page.keyboard.type(email);
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('password');
    await page.keyboard.type(password);
    await page.keyboard.press('Enter');
    await page.waitForURL('**/chat');
    await page.getByRole('link', { name: /Keys/ }).focus();
    await page.keyboard.press('Enter');
    await page.getByLabel('Message', { exact: true }).waitFor();

    await page.getByLabel('Message', { exact: true }).focus();
    await page.keyboard.type('Typed without a mouse');
    await page.keyboard.press('Enter');
    await page.getByText('Typed without a mouse').waitFor();

    // From the message log, Tab reaches the (otherwise hidden) actions of the message.
    await page.getByRole('log', { name: 'Messages' }).focus();
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Reply');
    await page.keyboard.press('Enter');
    await page.getByText('Replying to Kim Keys').waitFor();
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('composer');
    await context.close();
  });
});

describe('themes', () => {
  it('follows the system dark preference and the explicit toggle', async () => {
    const context = await browser.newContext({ baseURL: app.url, colorScheme: 'dark' });
    const page = await context.newPage();
    current = page;
    await page.goto('/login');
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const dark = await background();
    await shot(page, 'login-dark');
    await page.evaluate(() => localStorage.setItem('confab:theme', 'light'));
    await page.reload();
    expect(await background()).not.toBe(dark);
    await context.close();
  });
});
