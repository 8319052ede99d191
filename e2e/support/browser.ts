import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import AxeBuilder from '@axe-core/playwright';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export async function newUserContext(
  browser: Browser,
  baseURL: string,
  viewport = { width: 1280, height: 800 },
): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL, viewport });
  context.setDefaultTimeout(20_000);
  return context;
}

let serial = 0;
export function uniqueEmail(name: string): string {
  return `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${Date.now().toString(36)}-${++serial}@example.test`;
}

export async function signUp(
  page: Page,
  displayName: string,
  next?: string,
): Promise<{ email: string; password: string }> {
  const email = uniqueEmail(displayName);
  const password = 'correct horse battery staple';
  await page.goto(next ? `/register?next=${encodeURIComponent(next)}` : '/register');
  await page.getByLabel('Display name').fill(displayName);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create your account' }).click();
  await page.waitForURL((url) => url.pathname !== '/register');
  return { email, password };
}

/**
 * Fills the sign-in form on the page it is on (or on /login, with `go`) and submits it; the caller
 * waits for what should follow (the room list, or the refusal).
 */
export async function signIn(page: Page, email: string, password: string, go = true): Promise<void> {
  if (go) await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export async function createRoom(page: Page, name: string, topic = ''): Promise<string> {
  await page.goto('/chat');
  await page.getByLabel('Room name').fill(name);
  if (topic) await page.getByLabel('Topic').fill(topic);
  await page.getByRole('button', { name: 'Create room' }).click();
  await page.waitForURL(/\/chat\/[^/_]+$/);
  await page.getByRole('heading', { name }).waitFor();
  return decodeURIComponent(new URL(page.url()).pathname.split('/')[2]!);
}

export async function createInvite(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.getByRole('button', { name: 'Create invite link' }).click();
  const link = await page.getByLabel('Invite link').inputValue();
  await page.getByRole('button', { name: 'Close' }).click();
  return link;
}

/**
 * Joins the room of the invite page `page` is on (or is being sent to, after
 * sign-up): an invite link asks before it joins.
 */
export async function joinFromInvite(page: Page): Promise<void> {
  await page.waitForURL(/\/invite\/[^/_]+$/);
  await page.getByRole('button', { name: 'Join room' }).click();
}

export async function send(page: Page, text: string): Promise<void> {
  const box = page.getByLabel('Message', { exact: true });
  await box.fill(text);
  await box.press('Enter');
}

/** Takes the page's browser context off the network and waits until the app says it is offline. */
export async function goOffline(page: Page): Promise<void> {
  await page.context().setOffline(true);
  await page
    .getByText(/Offline/)
    .first()
    .waitFor();
}

/** The message article whose text contains `text`. */
export function message(page: Page, text: string) {
  return page.getByRole('log', { name: 'Messages' }).locator('article', { hasText: text });
}

export async function waitForSynced(page: Page): Promise<void> {
  await page.getByText(/\d+ online/).waitFor();
}

export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: false });
}

export async function criticalViolations(page: Page): Promise<{ id: string; help: string; nodes: string[] }[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === 'critical')
    .map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
}

/** Screenshots of every page of a failed test, named after it, for the artifacts folder. */
export async function shotOnFailure(testName: string, pages: Record<string, Page>): Promise<void> {
  const slug = testName.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
  for (const [name, page] of Object.entries(pages)) {
    if (!page.isClosed()) await shot(page, `failed-${slug}-${name}`).catch(() => {});
  }
}

/** Alice and Bob, each in a browser context of their own, against one running app. */
export interface TwoPeople {
  browser: Browser;
  aliceContext: BrowserContext;
  bobContext: BrowserContext;
  alice: Page;
  bob: Page;
}

export async function twoPeople(baseURL: string): Promise<TwoPeople> {
  const browser = await launchBrowser();
  const aliceContext = await newUserContext(browser, baseURL);
  const bobContext = await newUserContext(browser, baseURL);
  return { browser, aliceContext, bobContext, alice: await aliceContext.newPage(), bob: await bobContext.newPage() };
}

/**
 * Alice signs up and creates a room; Bob signs up through its invite link and
 * joins; both are synced when this resolves. Returns the room id.
 */
export async function aliceInvitesBob(
  { alice, bob }: Pick<TwoPeople, 'alice' | 'bob'>,
  roomName: string,
): Promise<string> {
  await signUp(alice, 'Alice');
  const roomId = await createRoom(alice, roomName);
  await waitForSynced(alice);
  const invite = await createInvite(alice);
  await signUp(bob, 'Bob', new URL(invite).pathname);
  await joinFromInvite(bob);
  await bob.waitForURL(`**/chat/${roomId}`);
  await waitForSynced(bob);
  return roomId;
}
