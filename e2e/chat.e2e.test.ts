import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from './support/app';
import {
  createInvite,
  createRoom,
  goOffline,
  joinFromInvite,
  message,
  newUserContext,
  send,
  shot,
  shotOnFailure,
  signIn,
  signUp,
  twoPeople,
  waitForSynced,
} from './support/browser';

/**
 * Two people in two browser contexts: sign-up, a room, an invite link, and
 * real-time chat with edits, deletes, reactions, replies and mentions.
 */
let app: RunningApp;
let browser: Browser;
let aliceContext: BrowserContext;
let bobContext: BrowserContext;
let alice: Page;
let bob: Page;
let roomId: string;

beforeAll(async () => {
  app = await startApp();
  ({ browser, aliceContext, bobContext, alice, bob } = await twoPeople(app.url));
});

afterEach(async (context) => {
  if (context.task.result?.state === 'fail') await shotOnFailure(context.task.name, { alice, bob });
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

/** The reset link of the newest forgotten-password email to `to` the app wrote under DATA_DIR/mail, if any. */
async function resetLinkIn(dataDir: string, to: string): Promise<string | null> {
  const dir = path.join(dataDir, 'mail');
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.eml')).sort();
  for (const file of files.reverse()) {
    const mail = await simpleParser(await readFile(path.join(dir, file)));
    if (mail.subject !== 'Set a new Confab password' || !JSON.stringify(mail.to).includes(to)) continue;
    return /https?:\/\/\S+\/reset-password\?token=[a-z2-7]+/.exec(mail.text ?? '')?.[0] ?? null;
  }
  return null;
}

/**
 * Someone new, in a browser of their own, who signs up through a fresh invite of Alice's to the
 * Design room and joins it; in the room and synced when this resolves. The caller closes `context`.
 */
async function newcomer(
  name: string,
): Promise<{ context: BrowserContext; page: Page; email: string; password: string }> {
  await alice.goto(`/chat/${roomId}`);
  await waitForSynced(alice);
  const invite = await createInvite(alice);
  const context = await newUserContext(browser, app.url);
  const page = await context.newPage();
  const account = await signUp(page, name, new URL(invite).pathname);
  await joinFromInvite(page);
  await page.waitForURL(`**/chat/${roomId}`);
  await waitForSynced(page);
  return { context, page, ...account };
}

/** Alice, in the open settings of the room, gives Bob a role; resolves once her screen shows it. */
async function setBobsRole(role: 'member' | 'reader'): Promise<void> {
  await alice.getByLabel('Role of Bob').selectOption(role);
  await expect.poll(() => alice.getByLabel('Role of Bob').inputValue()).toBe(role);
}

describe('chatting in real time', () => {
  it('lets a new user sign up, create a room and invite someone who joins through the link', async () => {
    await signUp(alice, 'Alice');
    roomId = await createRoom(alice, 'Design', 'Everything about the new design');
    await waitForSynced(alice);
    const invite = await createInvite(alice);
    expect(invite).toMatch(/\/invite\/[A-Za-z0-9_-]+$/);

    // Bob is not signed in: the invite sends him to sign up first, then back to the invite.
    await bob.goto(new URL(invite).pathname);
    await bob.waitForURL(/\/login\?next=/);
    await bob.getByRole('link', { name: 'Create an account' }).click();
    await signUp(bob, 'Bob', new URL(invite).pathname);
    await joinFromInvite(bob);
    await bob.waitForURL(`**/chat/${roomId}`);
    await bob.getByRole('heading', { name: 'Design' }).waitFor();
    await waitForSynced(bob);
  });

  it('honours an invite limited to one use: the second visitor is told it is used up', async () => {
    await alice.getByRole('button', { name: 'Settings' }).click();
    await alice.getByLabel('Maximum uses (0 = unlimited)').fill('1');
    await alice.getByLabel('Joins as').selectOption('reader');
    await alice.getByRole('button', { name: 'Create invite link' }).click();
    const invite = new URL(await alice.getByLabel('Invite link').inputValue()).pathname;
    await alice.getByRole('button', { name: 'Close' }).click();

    const carolContext = await newUserContext(browser, app.url);
    const carol = await carolContext.newPage();
    await signUp(carol, 'Carol', invite);
    // The invite screen names the role before anyone joins (GET /api/invites/:code).
    await carol.getByRole('heading', { name: /^Join .+ as reader$/ }).waitFor();
    await joinFromInvite(carol);
    await carol.waitForURL(`**/chat/${roomId}`);
    await carol.getByText('You can read this room but not write in it.').waitFor();

    const daveContext = await newUserContext(browser, app.url);
    const dave = await daveContext.newPage();
    await signUp(dave, 'Dave', invite);
    await joinFromInvite(dave);
    await dave.getByRole('alert').filter({ hasText: 'This invite link has been used up' }).waitFor();
    // The lookup was refused (409) too: the screen keeps its generic heading.
    expect(await dave.getByRole('heading', { level: 1 }).textContent()).toBe('Join a room');
    await carolContext.close();
    await daveContext.close();
  });

  it('delivers messages both ways while both are online', async () => {
    await send(alice, 'Hello Bob, welcome!');
    await message(bob, 'Hello Bob, welcome!').waitFor();
    await send(bob, 'Thanks **Alice**');
    await message(alice, 'Thanks Alice').waitFor();
    // Formatting is rendered as elements, not as HTML from the text.
    await expect(message(alice, 'Thanks Alice').locator('strong').textContent()).resolves.toBe('Alice');
    await shot(alice, 'room-desktop');
  });

  it('shows a fenced code block as a block that keeps its lines and its marks', async () => {
    await send(alice, 'Run this:\n```sh\nnpm start   # **not bold**\nnpm test\n```\nthen *tell* me');
    const block = message(bob, 'Run this:').locator('pre.codeblock');
    await expect.poll(() => block.textContent()).toBe('npm start   # **not bold**\nnpm test');
    await expect(block.getAttribute('data-lang')).resolves.toBe('sh');
    // The text around it is formatted as usual, the block's content is not.
    await expect(message(bob, 'Run this:').locator('em').textContent()).resolves.toBe('tell');
    await expect(block.locator('strong').count()).resolves.toBe(0);
  });

  it('shows quoted lines as a quote, and struck text struck', async () => {
    await send(alice, '> Can we ship **today**?\n> Or Monday?\nShip it ~~Monday~~ today');
    const sent = message(bob, 'Ship it');
    const quote = sent.locator('blockquote');
    await expect.poll(() => quote.textContent()).toBe('Can we ship today?\nOr Monday?');
    await expect(quote.locator('strong').textContent()).resolves.toBe('today');
    await expect(sent.locator('s').textContent()).resolves.toBe('Monday');
    // The room list's preview reads it without the marks.
    await bob.goto('/chat');
    await bob.getByRole('list', { name: 'Rooms' }).getByText('Alice: Can we ship today?', { exact: false }).waitFor();
    await bob.goto(`/chat/${roomId}`);
    await message(bob, 'Ship it').waitFor();
  });

  it('keeps a paste longer than a message may be, says by how much, and sends it once it fits', async () => {
    const box = alice.getByLabel('Message', { exact: true });
    const text = `Long note ${'x'.repeat(4090)}`; // 4,100 characters
    await box.fill(text);
    // Nothing is cut: the browser's maxLength used to drop the last 100 characters without a word.
    await expect(box.inputValue()).resolves.toHaveLength(4100);
    await alice.getByText('100 characters too long to send').waitFor();
    await expect(box.getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(alice.getByRole('button', { name: 'Send' }).isDisabled()).resolves.toBe(true);
    await box.press('Enter');
    await expect(box.inputValue()).resolves.toHaveLength(4100);

    await box.fill(text.slice(0, 4000));
    await alice.getByText('4,000 / 4,000').waitFor();
    await box.press('Enter');
    await expect(box.inputValue()).resolves.toBe('');
    await message(bob, 'Long note').waitFor();
    await expect(message(bob, 'Long note').locator('.text').textContent()).resolves.toHaveLength(4000);
  });

  it('shows an edit and a delete on the other side', async () => {
    await send(alice, 'Tpyo here');
    await message(bob, 'Tpyo here').waitFor();
    const mine = message(alice, 'Tpyo here');
    await mine.hover();
    await mine.getByRole('button', { name: 'Edit' }).click();
    const box = alice.getByLabel('Message', { exact: true });
    await box.fill('Typo fixed');
    await box.press('Enter');
    await message(bob, 'Typo fixed').getByText('(edited)').waitFor();

    // Up in the empty box edits her last message; Escape gives the box back as it was.
    await send(alice, 'Lunch at 1');
    await message(bob, 'Lunch at 1').waitFor();
    await box.press('ArrowUp');
    await alice.getByText('Editing your message').waitFor();
    // The box takes the text in an effect, a render after the banner.
    await expect.poll(() => box.inputValue()).toBe('Lunch at 1');
    await box.press('Escape');
    await expect.poll(() => box.inputValue()).toBe('');
    await box.press('ArrowUp');
    await expect.poll(() => box.inputValue()).toBe('Lunch at 1');
    await box.fill('Lunch at 2');
    await box.press('Enter');
    await message(bob, 'Lunch at 2').getByText('(edited)').waitFor();

    await send(alice, 'Delete me soon');
    await message(bob, 'Delete me soon').waitFor();
    alice.once('dialog', (d) => void d.accept());
    const doomed = message(alice, 'Delete me soon');
    await doomed.hover();
    await doomed.getByRole('button', { name: 'Delete' }).click();
    await message(bob, 'Delete me soon').waitFor({ state: 'detached' });
    // Those who watched it go see where it was; its text is gone for good.
    await bob.getByRole('log', { name: 'Messages' }).getByText('Message deleted').first().waitFor();
  });

  it("lets the owner delete someone else's message, and only offers members their own", async () => {
    await send(bob, 'Bob says something regrettable');
    await message(alice, 'Bob says something regrettable').waitFor();
    // Bob (a member) sees no Delete on Alice's messages.
    const alicesMessage = message(bob, 'Hello Bob, welcome!');
    await alicesMessage.hover();
    expect(await alicesMessage.getByRole('button', { name: 'Delete' }).count()).toBe(0);
    // Alice (the owner) may delete Bob's.
    alice.once('dialog', (d) => void d.accept());
    const bobs = message(alice, 'Bob says something regrettable');
    await bobs.hover();
    await bobs.getByRole('button', { name: 'Delete' }).click();
    await message(bob, 'Bob says something regrettable').waitFor({ state: 'detached' });
  });

  it('shows reactions, replies and mentions on the other side', async () => {
    const greeting = message(bob, 'Hello Bob, welcome!');
    await greeting.hover();
    await greeting.getByRole('button', { name: 'React with 👍' }).click();
    await message(alice, 'Hello Bob, welcome!').getByRole('button', { name: /👍 1/ }).waitFor();

    await greeting.hover();
    await greeting.getByRole('button', { name: 'Reply' }).click();
    const box = bob.getByLabel('Message', { exact: true });
    await box.fill('Glad to be here @Al');
    // The mention autocomplete offers Alice; Enter picks her.
    await bob.getByRole('option', { name: '@Alice' }).waitFor();
    await box.press('Enter');
    await box.press('End');
    await box.pressSequentially('see you');
    await box.press('Enter');
    const reply = message(alice, 'Glad to be here @Alice see you');
    await reply.waitFor();
    await expect(reply.locator('.quote').textContent()).resolves.toContain('Hello Bob, welcome!');
    await expect(reply.getAttribute('class')).resolves.toContain('mentioned');
    // The quote leads to the message it replies to, marked.
    await reply.locator('.quote').getByRole('button').click();
    await alice.locator('article.highlighted', { hasText: 'Hello Bob, welcome!' }).first().waitFor();
    await expect(alice.locator('article.highlighted').count()).resolves.toBe(1);
    await shot(bob, 'room-reply-mention');
  });

  it('completes an emoji from its name after a colon, as other chats do', async () => {
    const box = alice.getByLabel('Message', { exact: true });
    const list = alice.getByRole('listbox', { name: 'Emoji suggestions' });
    await box.pressSequentially('Shipped :tad');
    await list.getByRole('option', { name: '🎉 :tada:' }).waitFor();
    await box.press('Enter');
    await expect.poll(() => box.inputValue()).toBe('Shipped 🎉');
    await box.pressSequentially(' at 10:30');
    await box.press('Enter');
    await message(bob, 'Shipped 🎉 at 10:30').waitFor();

    await box.pressSequentially(':thu');
    await list.getByRole('option', { name: /^👍 :thumbsup:/ }).waitFor();
    // Escape closes the list, and Enter sends the text as it is.
    await box.press('Escape');
    await expect.poll(() => list.count()).toBe(0);
    await box.pressSequentially('mb');
    expect(await list.count()).toBe(0);
    await box.press('Enter');
    await message(bob, ':thumb').waitFor();
    // The next name typed in the same place gets its list again.
    await box.pressSequentially(':tad');
    await list.getByRole('option', { name: '🎉 :tada:' }).waitFor();
    await box.fill('');
    // A name typed out in full, closing colon included, becomes its emoji; in code it stays a name.
    await box.pressSequentially('All done :+1: and `:tada:`');
    await expect.poll(() => box.inputValue()).toBe('All done 👍 and `:tada:`');
    await box.fill('');
  });

  it('reacts with any emoji, found by its name in the picker', async () => {
    const elsewhere: string[] = [];
    const onRequest = (request: { url(): string }) => {
      if (new URL(request.url()).origin !== new URL(app.url).origin) elsewhere.push(request.url());
    };
    bob.on('request', onRequest);
    await send(alice, 'Pick an emoji for this');
    const greeting = message(bob, 'Pick an emoji for this');
    await greeting.hover();
    await greeting.getByRole('button', { name: 'Add a reaction' }).click();
    const search = bob.getByLabel('Search emoji');
    // Escape closes it without reacting.
    await search.press('Escape');
    await expect.poll(() => search.count()).toBe(0);

    await greeting.hover();
    await greeting.getByRole('button', { name: 'Add a reaction' }).click();
    await search.fill('unicorn');
    await bob.getByRole('gridcell', { name: /unicorn/i }).click();
    await expect.poll(() => search.count()).toBe(0);
    await message(alice, 'Pick an emoji for this').getByRole('button', { name: /🦄 1/ }).waitFor();

    // Alice gives it a thumbs up with the quick button, Bob through the picker, which spells it with a
    // variation selector: one reaction of two people, not two of one each.
    await message(alice, 'Pick an emoji for this').hover();
    await message(alice, 'Pick an emoji for this').getByRole('button', { name: 'React with 👍' }).click();
    await greeting.hover();
    await greeting.getByRole('button', { name: 'Add a reaction' }).click();
    await search.fill('thumbs up');
    await bob.getByRole('gridcell', { name: /^thumbs up$/i }).click();
    const thumbs = message(alice, 'Pick an emoji for this').locator('.reactions button', { hasText: '👍' });
    await thumbs.filter({ hasText: '👍 2' }).waitFor();
    expect(await thumbs.count()).toBe(1);
    // The emoji list came from the app itself (/emojibase), not from the picker's default CDN.
    bob.off('request', onRequest);
    expect(elsewhere).toEqual([]);
  });

  it('shows who is typing and who has seen the last message', async () => {
    await bob.getByLabel('Message', { exact: true }).pressSequentially('typing something');
    await alice.getByText('Bob is typing…').waitFor();
    await bob.getByLabel('Message', { exact: true }).fill('');
    await send(alice, 'Did you see this?');
    await bob.getByText('Did you see this?').waitFor();
    await alice.getByText('Seen by Bob').waitFor();
  });

  it('names a newcomer at once in a room open elsewhere, and drops a member who left from its list', async () => {
    const { context: hanaContext, page: hana } = await newcomer('Hana');
    try {
      // All of the room's history is new to her: it opens at its end, without a "New messages" line.
      await hana.getByRole('log', { name: 'Messages' }).locator('article').first().waitFor();
      await expect(hana.getByText('New messages', { exact: true }).count()).resolves.toBe(0);
      // (The button may show for a moment while the list scrolls to its end.)
      await expect.poll(() => hana.getByRole('button', { name: 'Jump to latest ↓' }).count()).toBe(0);
      await send(hana, 'Hello from the newcomer');
      // Alice's room, open since before Hana joined, names her (it asks for the members again when
      // someone it does not know shows up in the room's presence).
      await message(alice, 'Hello from the newcomer').waitFor();
      await message(alice, 'Hello from the newcomer').getByText('Hana', { exact: true }).waitFor();
      await expect(message(alice, 'Hello from the newcomer').getByText('Former member').count()).resolves.toBe(0);
      await alice.getByRole('button', { name: 'Settings' }).click();
      const membersHeading = alice.getByRole('heading', { name: /^Members \(\d+\)$/ });
      const memberCount = async () => Number(/\d+/.exec((await membersHeading.textContent()) ?? '')?.[0]);
      await membersHeading.waitFor();
      await alice.locator('ul.members').getByText('Hana', { exact: true }).waitFor();
      const withHana = await memberCount();

      await hana
        .getByRole('button', { name: /Settings|Members/ })
        .first()
        .click();
      hana.once('dialog', (d) => void d.accept());
      await hana.getByRole('button', { name: 'Leave room' }).click();
      await hana.waitForURL('**/chat');
      // The sync server tells the room's other connections that its members changed (confab.members).
      await alice.locator('ul.members').getByText('Hana', { exact: true }).waitFor({ state: 'detached' });
      await expect.poll(memberCount).toBe(withHana - 1);
      await alice.getByRole('button', { name: 'Close' }).click();
    } finally {
      await hanaContext.close();
    }
  });

  it('keeps an unsent draft of a room across navigation and a reload', async () => {
    await bob.getByLabel('Message', { exact: true }).fill('half-written thought');
    // Leaving the room saves the draft into the private user document.
    await bob.getByRole('link', { name: 'Back to rooms' }).click();
    await bob.getByRole('heading', { name: 'Chats' }).waitFor();
    await bob.goto(`/chat/${roomId}`);
    await expect.poll(() => bob.getByLabel('Message', { exact: true }).inputValue()).toBe('half-written thought');
    // Emptying the box deletes the draft.
    await bob.getByLabel('Message', { exact: true }).fill('');
    await bob.getByRole('link', { name: 'Back to rooms' }).click();
    await bob.getByRole('heading', { name: 'Chats' }).waitFor();
    await bob.goto(`/chat/${roomId}`);
    await waitForSynced(bob);
    expect(await bob.getByLabel('Message', { exact: true }).inputValue()).toBe('');
  });

  it('lists the room with its last message and an unread count for messages not yet seen', async () => {
    await bob.goto('/chat');
    await send(alice, 'One more *while* you are **away**');
    const entry = bob.getByRole('list', { name: 'Rooms' }).getByRole('link', { name: /Design/ });
    // The preview reads as the message does, without its formatting marks.
    await entry.getByText('Alice: One more while you are away').waitFor();
    await entry.getByRole('status', { name: /unread/ }).waitFor();
    await shot(bob, 'room-list-desktop');
  });

  it('opens a room at a "New messages" line above what came while the reader was away', async () => {
    // Bob is on his room list, with one message unread (the test before).
    const line = bob.getByText('New messages', { exact: true });
    for (let i = 0; i < 30; i++) await send(alice, `Filler ${i}`);
    await bob
      .getByRole('list', { name: 'Rooms' })
      .getByRole('link', { name: /Design/ })
      .click();
    await line.waitFor();
    // The line sits right above the first message he has not read, and the room opened there,
    // not at its end.
    const below = bob.locator('.unread-line + article');
    await expect.poll(() => below.textContent()).toContain('One more while you are away');
    await bob.getByRole('button', { name: 'Jump to latest ↓' }).waitFor();

    // The app closed meanwhile: the messages come with the room's sync, after its local copy loaded.
    await bob.goto('about:blank');
    for (let i = 0; i < 3; i++) await send(alice, `While closed ${i}`);
    await bob.goto(`/chat/${roomId}`);
    await line.waitFor();
    await expect.poll(() => below.textContent()).toContain('While closed 0');
    // What is new fits on the screen, so it is read at once (Alice sees it), and the line stays.
    await alice.getByText('Seen by Bob').waitFor();
    await expect(line.count()).resolves.toBe(1);
    // Writing takes it away.
    await send(bob, 'Read it all');
    await message(alice, 'Read it all').waitFor();
    await expect.poll(() => line.count()).toBe(0);
    await message(bob, 'While closed 0').waitFor();
    await bob.goto('/chat');
  });

  it('marks a message unread: the room keeps it unread until the reader leaves, and reopens at it', async () => {
    // Bob is on his room list, everything read (the test before).
    const entry = bob.getByRole('list', { name: 'Rooms' }).getByRole('link', { name: /Design/ });
    await send(alice, 'Mark me 1');
    await send(alice, 'Mark me 2');
    await entry.click();
    await message(bob, 'Mark me 2').waitFor();
    await alice.getByText('Seen by Bob').waitFor();

    const target = message(bob, 'Mark me 1');
    await target.hover();
    await target.getByRole('button', { name: 'Mark unread' }).click();
    const line = bob.getByText('New messages', { exact: true });
    await line.waitFor();
    await expect.poll(() => bob.locator('.unread-line + article').textContent()).toContain('Mark me 1');
    // His marker went back: Alice no longer sees her last message seen by him, and what comes
    // while he stays in the room is not read either, though it is on his screen.
    await expect.poll(() => alice.getByText('Seen by Bob').count()).toBe(0);
    await send(alice, 'Mark me 3');
    await message(bob, 'Mark me 3').waitFor();
    await bob.waitForTimeout(1_000);
    expect(await alice.getByText('Seen by Bob').count()).toBe(0);

    // The room list counts the three.
    await bob.goto('/chat');
    await entry.getByRole('status', { name: '3 unread' }).waitFor();
    // Opened again, the room starts at the line, and reads as usual.
    await entry.click();
    await line.waitFor();
    await expect.poll(() => bob.locator('.unread-line + article').textContent()).toContain('Mark me 1');
    await alice.getByText('Seen by Bob').waitFor();
    await bob.goto('/chat');
    await expect.poll(() => entry.getByRole('status', { name: /unread/ }).count()).toBe(0);
  });

  it('finds messages of every room with the local search', async () => {
    await bob.getByLabel('Search messages').fill('typo');
    const hit = bob.getByRole('region', { name: 'Search results' }).getByRole('link', { name: /Typo fixed/ });
    await hit.click();
    // The hit opens the room at that message, marked.
    await bob.waitForURL(`**/chat/${roomId}#*`);
    await bob.locator('article.highlighted', { hasText: 'Typo fixed' }).waitFor();
  });

  it('keeps the room id of the address in the room view', async () => {
    await alice.goto(`/chat/${roomId}`);
    await alice.getByRole('heading', { name: 'Design' }).waitFor();
    expect(new URL(alice.url()).pathname).toBe(`/chat/${roomId}`);
  });

  it('copies the link of a message, which opens the room at that message, marked', async () => {
    await aliceContext.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: app.url });
    await send(alice, 'Remember this one');
    const mine = message(alice, 'Remember this one');
    await mine.hover();
    await mine.getByRole('button', { name: 'Link' }).click();
    await mine.getByRole('button', { name: 'Copied' }).waitFor();
    const link = await alice.evaluate(() => navigator.clipboard.readText());
    expect(link).toMatch(new RegExp(`^${app.url}/chat/${roomId}#[^#]+$`));
    // Bob has the room open at another message (the search hit above), so only the address's hash
    // changes: the room follows it (before, it kept the old message marked).
    expect(new URL(bob.url()).pathname).toBe(`/chat/${roomId}`);
    await bob.goto(link);
    await bob.locator('article.highlighted', { hasText: 'Remember this one' }).waitFor();
    await expect(bob.locator('article.highlighted').count()).resolves.toBe(1);
    // Opened afresh, the link does the same.
    await bob.goto('/chat');
    await bob.goto(link);
    await bob.locator('article.highlighted', { hasText: 'Remember this one' }).waitFor();
    await bob.goto('/chat');
  });

  it('goes to a room by name with Ctrl+K from any screen', async () => {
    await alice.goto('/profile');
    await alice.getByRole('heading', { name: 'Profile' }).waitFor();
    const query = alice.getByRole('combobox', { name: 'Go to a room' });
    await alice.keyboard.press('Control+k');
    await query.waitFor();
    // Escape leaves it, and nothing changed.
    await query.press('Escape');
    await expect.poll(() => query.count()).toBe(0);
    expect(new URL(alice.url()).pathname).toBe('/profile');

    await alice.keyboard.press('Control+k');
    await query.fill('desi');
    await expect(alice.getByRole('option', { name: 'Design' }).getAttribute('aria-selected')).resolves.toBe('true');
    await query.press('Enter');
    await alice.waitForURL(`**/chat/${roomId}`);
    await alice.getByRole('heading', { name: 'Design' }).waitFor();
    await expect(query.count()).resolves.toBe(0);
  });

  it('rings the notification bell of a member who is not in the room when mentioned, and opens the room from it', async () => {
    // A fresh page on the profile: Bob has no room open, so he is not online in it.
    await bob.close();
    bob = await bobContext.newPage();
    await bob.goto('/profile');
    await bob.getByRole('button', { name: 'Notifications', exact: true }).waitFor();
    await send(alice, 'Ping @Bob about the review');
    const bell = bob.getByRole('button', { name: /Notifications, \d+ unread/ });
    await bell.waitFor({ timeout: 30_000 });
    // The tab's title counts them too.
    const unreadCount = Number(/(\d+) unread/.exec((await bell.getAttribute('aria-label')) ?? '')?.[1]);
    await expect.poll(() => bob.title()).toBe(`(${unreadCount}) Confab`);
    await bell.click();
    await shot(bob, 'notifications-desktop');
    const item = bob.getByRole('region', { name: 'Notifications' }).getByRole('button', { name: /Ping @Bob/ });
    // When it came: "now" in words, the exact moment in the tooltip and the machine-readable attribute.
    const when = item.locator('time');
    await expect.poll(() => when.textContent()).toBe('now');
    const at = Date.parse((await when.getAttribute('datetime')) ?? '');
    expect(Math.abs(Date.now() - at)).toBeLessThan(60_000);
    expect(await when.getAttribute('title')).toMatch(/\d/);
    await item.click();
    await bob.waitForURL(`**/chat/${roomId}`);
    await message(bob, 'Ping @Bob about the review').waitFor();
    // In the room, the title names it; read, nothing is counted.
    await expect.poll(() => bob.title(), { timeout: 20_000 }).toBe('Design · Confab');
    // Opening it marked it read on the notifier.
    await expect
      .poll(async () => {
        const res = await bob.request.get('/api/notifications');
        const { items } = (await res.json()) as { items: { body: string; readAt: unknown }[] };
        return items.find((i) => i.body.includes('Ping @Bob'))?.readAt ?? null;
      })
      .not.toBeNull();
  });

  it('counts nothing unread in any tab of a member for messages their open room shows them', async () => {
    await bob.goto(`/chat/${roomId}`);
    await waitForSynced(bob);
    // A second tab of Bob's, on his profile: its bell hears of each notification live.
    const other = await bobContext.newPage();
    await other.goto('/profile');
    const otherBell = other.getByRole('button', { name: /^Notifications/ });
    await otherBell.waitFor();
    await send(alice, 'Bell check one');
    await send(alice, 'Bell check two');
    await message(bob, 'Bell check two').waitFor();
    // The notifier stored both for Bob and marked them read when his open room read them.
    await expect
      .poll(
        async () => {
          const res = await bob.request.get('/api/notifications');
          const { items } = (await res.json()) as { items: { body: string; readAt: unknown }[] };
          return ['Bell check one', 'Bell check two'].map(
            (body) => (items.find((i) => i.body === body)?.readAt ?? null) !== null,
          );
        },
        { timeout: 20_000 },
      )
      .toEqual([true, true]);
    // The other tab got them, and counts them read; so does the room's own tab.
    await otherBell.click();
    const panel = other.getByRole('region', { name: 'Notifications' });
    await panel.getByRole('button', { name: /Bell check two/ }).waitFor();
    await expect.poll(() => otherBell.getAttribute('aria-label')).toBe('Notifications');
    await expect
      .poll(() => bob.getByRole('button', { name: /^Notifications/ }).getAttribute('aria-label'))
      .toBe('Notifications');
    await other.close();
  });

  it("sets a room's notifications from the room itself: mentions only, then the account's default again", async () => {
    await bob.goto(`/chat/${roomId}`);
    await waitForSynced(bob);
    await bob.getByRole('button', { name: 'Members' }).click();
    const level = bob.getByLabel('Notify me about this room');
    await expect.poll(() => level.inputValue()).toBe('default');
    await level.selectOption('mentions');
    await bob.getByRole('complementary', { name: 'Room details' }).getByRole('status').getByText('Saved.').waitFor();

    await send(alice, 'Quiet news for everyone');
    await send(alice, 'Loud news for @Bob today');
    const bodies = async () => {
      const res = await bob.request.get('/api/notifications');
      return ((await res.json()) as { items: { body: string }[] }).items.map((i) => i.body);
    };
    // The notifier handles a room's events in order: once the mention is there, the plain one was passed over.
    await expect.poll(bodies, { timeout: 20_000 }).toContain('Loud news for @Bob today');
    expect(await bodies()).not.toContain('Quiet news for everyone');
    // The profile shows the same choice for the room.
    const profile = await bobContext.newPage();
    await profile.goto('/profile');
    await expect.poll(() => profile.getByLabel('In Design').inputValue()).toBe('mentions');
    await profile.close();

    await level.selectOption('default');
    await expect
      .poll(async () => {
        const res = await bob.request.get('/api/notifications/preferences');
        return ((await res.json()) as { rooms: Record<string, string> }).rooms[roomId] ?? 'default';
      })
      .toBe('default');
    await bob.getByRole('button', { name: 'Close' }).click();
  });

  it('lets the owner make a member a reader, who then reads but cannot write', async () => {
    // Bob has the room open while it happens: his screen follows without a reload.
    await bob.goto(`/chat/${roomId}`);
    await bob.getByLabel('Message', { exact: true }).waitFor();
    await alice.goto(`/chat/${roomId}`);
    await alice.getByRole('button', { name: 'Settings' }).click();
    await setBobsRole('reader');
    await alice.getByRole('button', { name: 'Close' }).click();
    await bob.getByText('You can read this room but not write in it.').waitFor({ timeout: 10_000 });
    expect(await bob.getByLabel('Message', { exact: true }).count()).toBe(0);
    await send(alice, 'Readers still receive this');
    await message(bob, 'Readers still receive this').waitFor();
    // And after a reload, from the room's details alone.
    await bob.reload();
    await message(bob, 'Readers still receive this').waitFor();
    await bob.getByText('You can read this room but not write in it.').waitFor();
  });

  it('keeps what a member wrote offline before being made a reader, says it was not sent, and sends it once they may write again', async () => {
    // Bob (a reader since the test before) may write again, and his open room follows.
    await alice.getByRole('button', { name: 'Settings' }).click();
    await setBobsRole('member');
    await bob.getByLabel('Message', { exact: true }).waitFor({ timeout: 10_000 });
    await waitForSynced(bob);

    // Offline, Bob writes; meanwhile Alice makes him a reader. His device cannot know yet.
    await goOffline(bob);
    await send(bob, 'Written on the train before the demotion');
    await message(bob, 'Written on the train before the demotion').getByText('pending').waitFor();
    await setBobsRole('reader');

    // Back online the server takes nothing from him: his screen says so and keeps the message.
    await bobContext.setOffline(false);
    await bob.getByText('You can read this room but not write in it.').waitFor({ timeout: 30_000 });
    await bob.getByRole('status').filter({ hasText: 'One of your messages was not sent' }).waitFor({ timeout: 10_000 });
    await message(bob, 'Written on the train before the demotion').getByText('not sent').waitFor();
    await waitForSynced(bob);
    await shot(bob, 'reader-not-sent');
    expect(await message(alice, 'Written on the train before the demotion').count()).toBe(0);

    // Alice lets him write again: the message goes out with nothing for Bob to do, and is no longer pending.
    await setBobsRole('member');
    await message(alice, 'Written on the train before the demotion').waitFor({ timeout: 10_000 });
    await bob.getByLabel('Message', { exact: true }).waitFor();
    await message(bob, 'Written on the train before the demotion')
      .locator('.pending')
      .waitFor({ state: 'detached', timeout: 10_000 });

    // Once more, and this time Bob lets it go: the device drops its copy and loads the room from the server.
    await goOffline(bob);
    await send(bob, 'Second thoughts on the train');
    await setBobsRole('reader');
    await bobContext.setOffline(false);
    await bob.getByRole('status').filter({ hasText: 'One of your messages was not sent' }).waitFor({ timeout: 30_000 });
    await bob.getByRole('button', { name: 'Discard it' }).click();
    await message(bob, 'Second thoughts on the train').waitFor({ state: 'detached' });
    await message(bob, 'Written on the train before the demotion').waitFor();
    await waitForSynced(bob);
    expect(await message(bob, 'Second thoughts on the train').count()).toBe(0);
    expect(await bob.getByText('One of your messages was not sent').count()).toBe(0);
    expect(await message(alice, 'Second thoughts on the train').count()).toBe(0);
    await alice.getByRole('button', { name: 'Close' }).click();
  });

  it('keeps a reader made a member a member when the network drops and comes back', async () => {
    // Bob is a reader after the test before. Alice lets him write again.
    await alice.goto(`/chat/${roomId}`);
    await waitForSynced(alice);
    await alice.getByRole('button', { name: 'Settings' }).click();
    await setBobsRole('member');
    await alice.getByRole('button', { name: 'Close' }).click();
    await bob.getByLabel('Message', { exact: true }).waitFor();
    // The device still holds the sync token it fetched as a reader; reconnecting with it used to make
    // Bob a reader again (until it expired, up to 15 minutes).
    await goOffline(bob);
    await bobContext.setOffline(false);
    await waitForSynced(bob);
    await send(bob, 'Still a member after the tunnel');
    await message(alice, 'Still a member after the tunnel').waitFor();
    expect(await bob.getByText('You can read this room but not write in it.').count()).toBe(0);
  });

  it('tells a member removed by the owner why the room closed for them', async () => {
    await alice.goto(`/chat/${roomId}`);
    await waitForSynced(alice);
    await bob.goto(`/chat/${roomId}`);
    await waitForSynced(bob);
    await alice.getByRole('button', { name: 'Settings' }).click();
    alice.once('dialog', (d) => void d.accept());
    await alice
      .getByRole('complementary', { name: 'Room details' })
      .getByRole('button', { name: 'Remove Bob' })
      .click();
    await bob.getByText('You were removed from this room.').waitFor({ timeout: 30_000 });
    await shot(bob, 'removed-member');
  });

  it('opens the room again for a removed member who joins through a new invite, without a reload', async () => {
    // Bob's page still says why the room closed. In another tab he follows a new invite and joins.
    await bob.getByText('You were removed from this room.').waitFor();
    await alice.goto(`/chat/${roomId}`);
    const invite = await createInvite(alice);
    const tab = await bobContext.newPage();
    await tab.goto(new URL(invite).pathname);
    await joinFromInvite(tab);
    await tab.waitForURL(`**/chat/${roomId}`);
    await waitForSynced(tab);
    await tab.close();

    // Back in the first tab, through the app's own links (no reload): the room is his again.
    await bob.getByRole('link', { name: 'Back to your rooms' }).click();
    await bob
      .getByRole('list', { name: 'Rooms' })
      .getByRole('link', { name: /Design/ })
      .click();
    await bob.getByLabel('Message', { exact: true }).waitFor({ timeout: 15_000 });
    await waitForSynced(bob);
    await send(bob, 'Back in the room');
    await message(alice, 'Back in the room').waitFor();
  });

  it('changes the password on one device, which signs the other devices out and keeps this one', async () => {
    const phoneContext = await newUserContext(browser, app.url);
    const laptopContext = await newUserContext(browser, app.url);
    try {
      const phone = await phoneContext.newPage();
      const laptop = await laptopContext.newPage();
      const { email, password } = await signUp(phone, 'Erin');
      await signIn(laptop, email, password);
      await laptop.waitForURL('**/chat');

      await phone.goto('/profile');
      const current = phone.getByLabel('Current password');
      const next = phone.getByLabel('New password');
      await current.fill('not my password');
      await next.fill('a brand new passphrase');
      await phone.getByRole('button', { name: 'Change password' }).click();
      await phone.getByRole('alert').getByText('The current password is wrong.').waitFor();

      await current.fill(password);
      await next.fill('a brand new passphrase');
      await phone.getByRole('button', { name: 'Change password' }).click();
      await phone.getByText('Password changed. Your other device was signed out.').waitFor();
      // The list of sessions loads again after the note shows.
      await expect.poll(() => phone.locator('ul.sessions li').count()).toBe(1);
      await expect(phone.getByRole('listitem').filter({ hasText: 'this device' }).count()).resolves.toBe(1);

      // The laptop, open on its room list, is told at once: the sync server closed its socket.
      await laptop.waitForURL('**/login**');
      await laptop.getByText('You were signed out on this device (the session was revoked). Sign in again.').waitFor();
      await signIn(laptop, email, password);
      await laptop.getByText('wrong email or password').waitFor();
      await signIn(laptop, email, 'a brand new passphrase');
      await laptop.waitForURL('**/chat');
      // The phone is still signed in.
      await phone.goto('/chat');
      await phone.getByLabel('Room name').waitFor();
    } finally {
      await phoneContext.close();
      await laptopContext.close();
    }
  });

  it('signs out every other device from the profile at once, and keeps this one', async () => {
    const phoneContext = await newUserContext(browser, app.url);
    const laptopContext = await newUserContext(browser, app.url);
    const tabletContext = await newUserContext(browser, app.url);
    try {
      const phone = await phoneContext.newPage();
      const { email, password } = await signUp(phone, 'Ivy');
      const others = [await laptopContext.newPage(), await tabletContext.newPage()];
      for (const page of others) {
        await signIn(page, email, password);
        await page.waitForURL('**/chat');
      }
      await phone.goto('/profile');
      await expect.poll(() => phone.locator('ul.sessions li').count()).toBe(3);
      phone.once('dialog', (d) => void d.accept());
      await phone.getByRole('button', { name: 'Sign out all other devices' }).click();
      await phone.getByText('Your 2 other devices were signed out.').waitFor();
      await expect.poll(() => phone.locator('ul.sessions li').count()).toBe(1);
      await expect(phone.getByRole('button', { name: 'Sign out all other devices' }).count()).resolves.toBe(0);
      for (const page of others) await page.waitForURL('**/login**');
      await phone.goto('/chat');
      await phone.getByLabel('Room name').waitFor();
    } finally {
      await Promise.all([phoneContext.close(), laptopContext.close(), tabletContext.close()]);
    }
  });

  it('lets someone who forgot the password set a new one from the emailed link, which then works no more', async () => {
    const homeContext = await newUserContext(browser, app.url);
    const strangerContext = await newUserContext(browser, app.url);
    try {
      const home = await homeContext.newPage();
      const kiosk = await strangerContext.newPage();
      const { email, password } = await signUp(home, 'Fay');
      await home.waitForURL('**/chat');

      await kiosk.goto('/login');
      await kiosk.getByRole('link', { name: 'Forgot your password?' }).click();
      await kiosk.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
      await kiosk.getByLabel('Email').fill(email);
      await kiosk.getByRole('button', { name: 'Email me a link' }).click();
      await kiosk.getByRole('status').getByText(`If ${email} belongs to an account`).waitFor();

      // The all-in-one has no SMTP server here: the notifier writes the email to DATA_DIR/mail.
      let link: string | null = null;
      await expect
        .poll(async () => (link = await resetLinkIn(app.dataDir, email)), { timeout: 15_000 })
        .toMatch(/\/reset-password\?token=[a-z2-7]{32}$/);
      const linkPath = `${new URL(link!).pathname}${new URL(link!).search}`;

      // Meanwhile someone else uses the shared computer, and leaves without signing out.
      await signUp(kiosk, 'Kim');
      await kiosk.waitForURL('**/chat');
      await createRoom(kiosk, "Kim's notes");
      await send(kiosk, 'private to Kim');
      await message(kiosk, 'private to Kim').waitFor();
      const kim = await kiosk.evaluate(
        () => JSON.parse(localStorage.getItem('confab:account') ?? '{}').user?.id as string,
      );
      expect(kim).toMatch(/^[0-9a-f-]{36}$/);
      const kimSession = (await strangerContext.cookies()).find((c) => c.name === 'confab_session')!.value;
      const keptOf = (userId: string) =>
        kiosk.evaluate(async (id) => {
          const databases = (await indexedDB.databases()).map((d) => d.name ?? '').filter((n) => n.includes(id));
          const keys = Object.keys(localStorage).filter((k) => k.includes(id));
          return [...databases, ...keys];
        }, userId);
      expect(await keptOf(kim)).not.toEqual([]);

      await kiosk.goto(linkPath);
      // The token leaves the address bar as soon as the page has it.
      await expect.poll(() => new URL(kiosk.url()).search).toBe('');
      await kiosk.getByLabel('New password').fill('fresh start, fresh password');
      await kiosk.getByRole('button', { name: 'Set the new password' }).click();
      await kiosk.waitForURL('**/chat');
      await kiosk.getByLabel('Room name').waitFor();
      expect(await kiosk.getByText("Kim's notes").count()).toBe(0);
      // Nothing of Kim's is left on the computer, and Kim's session, whose cookie this one replaced, is over.
      await expect.poll(() => keptOf(kim)).toEqual([]);
      const kimNow = await fetch(new URL('/api/auth/me', app.url), {
        headers: { authorization: `Bearer ${kimSession}` },
      });
      expect(kimNow.status).toBe(401);

      // Every device signed in with the old password is out.
      await home.waitForURL('**/login**');
      await signIn(home, email, password, false);
      await home.getByText('wrong email or password').waitFor();

      // The link worked once.
      await kiosk.goto(linkPath);
      await kiosk.getByLabel('New password').fill('someone else tries it');
      await kiosk.getByRole('button', { name: 'Set the new password' }).click();
      await kiosk.getByText('This link does not work any more').waitFor();
    } finally {
      await homeContext.close();
      await strangerContext.close();
    }
  });

  it('deletes an account from the profile: it leaves its rooms, its messages stay without a name, and it cannot sign in', async () => {
    const { context: joContext, page: jo, email, password } = await newcomer('Jo');
    try {
      await send(jo, 'Bye all, deleting my account');
      await message(alice, 'Bye all, deleting my account').getByText('Jo', { exact: true }).waitFor();

      await jo.goto('/profile');
      await jo.getByLabel('Password', { exact: true }).fill('not my password');
      jo.on('dialog', (d) => void d.accept());
      await jo.getByRole('button', { name: 'Delete my account' }).click();
      await jo.getByText('The password is wrong.').waitFor();
      await jo.getByLabel('Password', { exact: true }).fill(password);
      await jo.getByRole('button', { name: 'Delete my account' }).click();
      await jo.waitForURL('**/login**');
      await jo.getByText('Your account was deleted.').waitFor();
      // Nothing of it is left on the device.
      await expect
        .poll(() => jo.evaluate(async () => (await indexedDB.databases()).filter((d) => d.name?.startsWith('confab:'))))
        .toEqual([]);

      await signIn(jo, email, password, false);
      await jo.getByText('wrong email or password').waitFor();

      // In Alice's open room the message stays, now under no name.
      await message(alice, 'Bye all, deleting my account').getByText('Former member').waitFor();
    } finally {
      await joContext.close();
    }
  });

  it('lets an owner delete a room for everyone: a member who has it open is told, and it leaves both lists', async () => {
    const temporary = await createRoom(alice, 'Temporary');
    await waitForSynced(alice);
    const invite = await createInvite(alice);
    await bob.goto(new URL(invite).pathname);
    await joinFromInvite(bob);
    await bob.waitForURL(`**/chat/${temporary}`);
    await waitForSynced(bob);
    await send(bob, 'Short-lived words');
    await message(alice, 'Short-lived words').waitFor();

    await alice.getByRole('button', { name: 'Settings' }).click();
    alice.once('dialog', (d) => void d.accept());
    await alice.getByRole('button', { name: 'Delete room for everyone' }).click();
    await alice.waitForURL(/\/chat$/);
    await expect(
      alice
        .getByRole('list', { name: 'Rooms' })
        .getByRole('link', { name: /Temporary/ })
        .count(),
    ).resolves.toBe(0);

    await bob.getByText('This room was deleted by an owner.').waitFor();
    await bob.getByRole('button', { name: 'Remove this room from the list' }).click();
    await bob.waitForURL(/\/chat$/);
    await bob
      .getByRole('list', { name: 'Rooms' })
      .getByRole('link', { name: /Design/ })
      .waitFor();
    await expect(
      bob
        .getByRole('list', { name: 'Rooms' })
        .getByRole('link', { name: /Temporary/ })
        .count(),
    ).resolves.toBe(0);
    // Its local copy went with it: the device's search finds nothing of it.
    await bob.getByLabel('Search messages').fill('Short-lived');
    await bob.getByText('No messages found.').waitFor();
  });

  it('signs out, every tab with it, and leaves nothing of the account on the device', async () => {
    const otherTab = await aliceContext.newPage();
    await otherTab.goto(`/chat/${roomId}`);
    await waitForSynced(otherTab);
    await alice.goto('/profile');
    await alice.getByRole('button', { name: 'Sign out', exact: true }).click();
    await alice.waitForURL('**/login**');
    await alice.waitForFunction(
      async () =>
        localStorage.getItem('confab:account') === null &&
        Object.keys(localStorage).every((k) => !k.startsWith('confab:rooms:')) &&
        (await indexedDB.databases()).every((d) => !d.name?.startsWith('confab:')),
      undefined,
      { timeout: 15_000 },
    );
    // The other tab followed, and said why (another tab, or the revoked session: whichever it heard first).
    await otherTab.waitForURL('**/login**');
    await otherTab
      .getByRole('status')
      .filter({ hasText: /signed out/i })
      .waitFor();
    await otherTab.close();
    // And the session is gone on the server too.
    const me = await alice.evaluate(async () => (await fetch('/api/auth/me')).status);
    expect(me).toBe(401);
  });

  it('serves all of it from one copy of Yjs: the process never warns of a second import', () => {
    // The rooms above were rendered on the server too; a Yjs bundled into the page's server chunk
    // would be a second copy beside the sync server's (next.config.ts: serverExternalPackages).
    expect(app.output()).toContain('Confab is running at');
    expect(app.output()).not.toContain('Yjs was already imported');
  });
});
