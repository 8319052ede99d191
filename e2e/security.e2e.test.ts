import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from './support/app';
import {
  createInvite,
  createRoom,
  launchBrowser,
  message,
  newUserContext,
  send,
  shotOnFailure,
  signUp,
  waitForSynced,
} from './support/browser';

/**
 * The web app's second line of defence: a nonce Content-Security-Policy that
 * the whole app runs under without a single violation, no framing, no open
 * redirect after sign-in, and invite links that ask before they join.
 */
let app: RunningApp;
let browser: Browser;
const pages: Record<string, Page> = {};

beforeAll(async () => {
  app = await startApp();
  browser = await launchBrowser();
});

afterEach(async (context) => {
  if (context.task.result?.state === 'fail') await shotOnFailure(context.task.name, pages);
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

/** Every CSP violation the page reports, from the DOM event and from the console. */
async function watchCsp(context: BrowserContext, name: string): Promise<{ page: Page; violations: string[] }> {
  const violations: string[] = [];
  await context.exposeFunction('__reportCspViolation', (text: string) => violations.push(text));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      const report = (window as unknown as { __reportCspViolation: (text: string) => void }).__reportCspViolation;
      void report(`${event.effectiveDirective} blocked ${event.blockedURI || 'inline'} on ${location.pathname}`);
    });
  });
  const page = await context.newPage();
  pages[name] = page;
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) violations.push(msg.text());
  });
  return { page, violations };
}

function directives(policy: string | null): Map<string, string[]> {
  return new Map(
    (policy ?? '').split(';').map((part) => {
      const [name, ...values] = part.trim().split(/\s+/);
      return [name!, values];
    }),
  );
}

describe('content security policy', () => {
  it('serves /chat with a fresh nonce policy that forbids framing, and X-Frame-Options DENY', async () => {
    const [first, second] = await Promise.all([fetch(`${app.url}/chat`), fetch(`${app.url}/chat`)]);
    expect(first.status).toBe(200);
    const policy = directives(first.headers.get('content-security-policy'));
    expect(policy.get('default-src')).toEqual(["'self'"]);
    expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
    expect(policy.get('object-src')).toEqual(["'none'"]);
    expect(policy.get('base-uri')).toEqual(["'self'"]);
    expect(policy.get('form-action')).toEqual(["'self'"]);
    expect(policy.get('connect-src')).toEqual(["'self'"]);
    const scriptSrc = policy.get('script-src')!;
    expect(scriptSrc).not.toContain("'unsafe-inline'");
    expect(scriptSrc).not.toContain("'unsafe-eval'");
    const nonce = scriptSrc.find((s) => s.startsWith("'nonce-"))!.slice(7, -1);
    expect(nonce.length).toBeGreaterThanOrEqual(22);
    expect(first.headers.get('x-frame-options')).toBe('DENY');
    expect(first.headers.get('x-content-type-options')).toBe('nosniff');
    // PUBLIC_URL is http here: no HSTS.
    expect(first.headers.get('strict-transport-security')).toBeNull();

    // Every inline script of the page carries this response's nonce; the next response has another.
    const html = await first.text();
    const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)([^>]*)>/g)].map((m) => m[1]!);
    expect(inline.length).toBeGreaterThan(0);
    for (const attributes of inline) expect(attributes).toContain(`nonce="${nonce}"`);
    expect(second.headers.get('content-security-policy')).not.toContain(nonce);
  });

  it('runs the main screens, the sync socket and an invite without a single CSP violation', async () => {
    const aliceContext = await newUserContext(browser, app.url);
    const bobContext = await newUserContext(browser, app.url);
    const { page: alice, violations } = await watchCsp(aliceContext, 'alice');
    const { page: bob, violations: bobViolations } = await watchCsp(bobContext, 'bob');

    await alice.goto('/login');
    await alice.getByRole('heading', { name: 'Sign in' }).waitFor();
    await signUp(alice, 'Csp Alice');
    const roomId = await createRoom(alice, 'Policy room', 'Headers and nonces');
    await waitForSynced(alice); // the sync WebSocket is open under connect-src 'self'
    await send(alice, 'Styled **bold** and `code` with https://example.org');
    await message(alice, 'Styled').waitFor();
    const invite = await createInvite(alice);

    await signUp(bob, 'Csp Bob', new URL(invite).pathname);
    await bob.getByRole('button', { name: 'Join room' }).click();
    await bob.waitForURL(`**/chat/${roomId}`);
    await waitForSynced(bob);
    await message(bob, 'Styled').waitFor();
    await send(bob, 'Seen, thanks');
    await message(alice, 'Seen, thanks').waitFor();

    await alice.getByRole('button', { name: 'Settings' }).click();
    await alice.getByRole('button', { name: 'Close' }).click();
    await alice.goto('/chat');
    await alice.getByText(/Seen, thanks/).waitFor();
    await alice.goto('/profile');
    await alice.getByRole('heading', { name: 'Devices and sessions' }).waitFor();
    // The service worker registered under worker-src 'self'.
    await alice.waitForFunction(async () => Boolean(await navigator.serviceWorker.getRegistration('/')));
    await alice.reload();
    await alice.getByRole('heading', { name: 'Devices and sessions' }).waitFor();

    expect(violations).toEqual([]);
    expect(bobViolations).toEqual([]);
    await aliceContext.close();
    await bobContext.close();
  });

  it('does not run a script injected into the page (an inline event handler)', async () => {
    const context = await newUserContext(browser, app.url);
    const { page, violations } = await watchCsp(context, 'injected');
    await page.goto('/login');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.evaluate(() => {
      document.body.insertAdjacentHTML(
        'beforeend',
        '<img src="/no-such-image.png" onerror="window.__pwned = true"><script>window.__pwned = true</script>',
      );
    });
    await expect.poll(() => violations.length).toBeGreaterThan(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: boolean }).__pwned)).toBeUndefined();
    await context.close();
  });

  it('does not let another site frame the app', async () => {
    const context = await newUserContext(browser, app.url);
    const page = await context.newPage();
    pages.framer = page;
    // Two frames: the app, and for comparison a page of the framing site itself with a password field.
    await page.route('http://framer.example/**', (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: new URL(route.request().url()).pathname.startsWith('/own')
          ? '<input type="password" aria-label="own">'
          : `<iframe id="own" src="/own" onload="window.ownLoaded = true"></iframe>
             <iframe id="victim" src="${app.url}/login" onload="window.victimLoaded = true"></iframe>`,
      }),
    );
    await page.goto('http://framer.example/');
    await page.waitForFunction(() => {
      const w = window as unknown as { ownLoaded?: boolean; victimLoaded?: boolean };
      return w.ownLoaded && w.victimLoaded;
    });
    const own = await (await page.locator('#own').elementHandle())!.contentFrame();
    const victim = await (await page.locator('#victim').elementHandle())!.contentFrame();
    expect(await own!.locator('input[type=password]').count()).toBe(1);
    // The refused frame is an error page, never the app's sign-in form.
    expect(await victim!.locator('input[type=password]').count()).toBe(0);
    expect(victim!.url()).not.toBe(`${app.url}/login`);
    await context.close();
  });
});

describe('after sign-in', () => {
  it.each(['/\t/evil.example', '//evil.example/chat', '/\\evil.example', 'https://evil.example/chat'])(
    'stays on the app when ?next= is %j',
    async (next) => {
      const context = await newUserContext(browser, app.url);
      const page = await context.newPage();
      pages.redirect = page;
      await signUp(page, 'Next Person', next);
      await page.getByRole('heading', { name: 'Chats' }).waitFor();
      const landed = new URL(page.url());
      expect(landed.origin).toBe(app.url);
      expect(landed.pathname).toBe('/chat');
      await context.close();
    },
  );
});

describe('invite links', () => {
  /**
   * The owner's room and invite link, and a guest who signed up through the link and is on the invite
   * page, its Join room button shown. `beforeGuest` prepares the guest's browser context first.
   */
  async function guestAtInvite(roomName: string, beforeGuest?: (context: BrowserContext) => Promise<unknown>) {
    const ownerContext = await newUserContext(browser, app.url);
    const owner = await ownerContext.newPage();
    pages.owner = owner;
    await signUp(owner, 'Owner');
    const roomId = await createRoom(owner, roomName);
    await waitForSynced(owner);
    const invite = await createInvite(owner);

    const guestContext = await newUserContext(browser, app.url);
    await beforeGuest?.(guestContext);
    const guest = await guestContext.newPage();
    pages.guest = guest;
    await signUp(guest, 'Guest', new URL(invite).pathname);
    await guest.waitForURL(/\/invite\//);
    const join = guest.getByRole('button', { name: 'Join room' });
    await join.waitFor();
    const close = async () => {
      await ownerContext.close();
      await guestContext.close();
    };
    return { guestContext, guest, join, roomId, close };
  }

  it('ask before joining: opening the link joins nothing until Join room, reached by keyboard, is pressed', async () => {
    const { guestContext, guest, join, roomId, close } = await guestAtInvite('Ask first');
    // The preview (GET /api/invites/:code) names the room and the role without joining.
    await guest.getByRole('heading', { name: 'Join Ask first as member' }).waitFor();
    const roomsBefore = await guestContext.request.get('/api/rooms');
    expect(((await roomsBefore.json()) as { rooms: unknown[] }).rooms).toEqual([]);

    // Keyboard only: Tab until the button has focus, then Enter.
    for (let presses = 0; presses < 20 && !(await join.evaluate((el) => el === document.activeElement)); presses++) {
      await guest.keyboard.press('Tab');
    }
    expect(await join.evaluate((el) => el === document.activeElement)).toBe(true);
    await guest.keyboard.press('Enter');
    await guest.waitForURL(`**/chat/${roomId}`);
    await guest.getByRole('heading', { name: 'Ask first' }).waitFor();
    const roomsAfter = await guestContext.request.get('/api/rooms');
    expect(((await roomsAfter.json()) as { rooms: { id: string; role: string }[] }).rooms).toEqual([
      expect.objectContaining({ id: roomId, role: 'member' }),
    ]);
    await close();
  });

  it('shows Join room only once the room is named, so the button does not move under a click', async () => {
    // A slow lookup: before, the button showed at once under "Join a room", and the lookup's answer made the
    // heading a line longer, moving the button 44 px down; a click at that moment (CI) landed on the text.
    const { guest, join, roomId, close } = await guestAtInvite('Steady', (context) =>
      context.route('**/api/invites/*', async (route) => {
        if (route.request().method() === 'GET') await new Promise((resolve) => setTimeout(resolve, 800));
        await route.continue();
      }),
    );
    expect(await guest.getByRole('heading', { level: 1 }).textContent()).toBe('Join Steady as member');
    const before = await join.boundingBox();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await join.boundingBox()).toEqual(before);
    await join.click();
    await guest.waitForURL(`**/chat/${roomId}`);
    await close();
  });
});
