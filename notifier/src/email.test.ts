import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { waitFor } from '@confab/platform/testing';
import { subjects } from '@confab/protocol';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestNotifier, type TestNotifier } from './testing/harness';

const MINUTE = 60_000;
let smtp: SMTPServer;
let smtpUrl: string;
const received: ParsedMail[] = [];

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream).then(
        (mail) => {
          received.push(mail);
          callback();
        },
        (error) => callback(error),
      );
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

let notifier: TestNotifier | undefined;
afterEach(async () => {
  await notifier?.close();
  notifier = undefined;
  received.length = 0;
});

const mailTo = (address: string) =>
  received.filter((m) => (Array.isArray(m.to) ? m.to : [m.to]).some((t) => t?.text.includes(address)));

async function setup(env: Record<string, string> = {}) {
  notifier = await startTestNotifier({ env: { SMTP_URL: smtpUrl, ...env } });
  const users = ['ann', 'bob', 'cy'].map((id) => notifier!.auth.addUser(id, id.toUpperCase()));
  notifier.auth.addRoom('room1', 'General', ['ann', 'bob', 'cy']);
  notifier.auth.addRoom('room2', 'Random', ['ann', 'bob']);
  return users;
}

async function itemCount(user: { token: string }): Promise<number> {
  const res = await notifier!.api(user, '/api/notifications');
  return ((await res.json()) as { items: unknown[] }).items.length;
}

async function settled(n: TestNotifier, predicate: () => Promise<boolean>) {
  await waitFor(predicate);
  await n.handle.dispatchNow();
}

describe('delayed emails over a real SMTP server', () => {
  it('batches a user’s unread messages into one email after the delay, grouped by room and escaped', async () => {
    const [, bob] = await setup();
    const start = notifier!.clock.now;
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'first <b>bold</b>' });
    await notifier!.publishMessage({ roomId: 'room2', authorId: 'ann', text: 'elsewhere' });
    await waitFor(async () => (await itemCount(bob!)) === 2);
    notifier!.clock.now = start + 2 * MINUTE;
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'second' });
    await settled(notifier!, async () => {
      const res = await notifier!.api(bob!, '/api/notifications');
      return ((await res.json()) as { items: unknown[] }).items.length === 3;
    });

    notifier!.clock.now = start + 10 * MINUTE - 1;
    await notifier!.handle.dispatchNow();
    expect(received).toHaveLength(0);

    notifier!.clock.now = start + 10 * MINUTE;
    await waitFor(() => mailTo('bob@').length === 1);
    await notifier!.handle.dispatchNow();
    expect(mailTo('bob@')).toHaveLength(1);
    const mail = mailTo('bob@')[0]!;
    expect(mail.subject).toBe('3 new messages in General, Random');
    expect(mail.text).toContain('first <b>bold</b>');
    expect(mail.text).toContain('elsewhere');
    expect(mail.text).toContain('second');
    expect(mail.html).toContain('first &lt;b&gt;bold&lt;/b&gt;');
    expect(mail.html).not.toContain('<b>bold</b>');
    expect(String(mail.html).match(/<h2>/g)).toHaveLength(2);
    expect(mail.headerLines.find((h) => h.key === 'list-unsubscribe-post')?.line).toBe(
      'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
    );
    // cy (only in room1) got one email too, with two messages.
    await waitFor(() => mailTo('cy@').length === 1);
    expect(mailTo('cy@')[0]?.subject).toBe('2 new messages in General');
  });

  it('has an unsubscribe link that works without signing in, and refuses a forged one', async () => {
    const [, bob] = await setup();
    await notifier!.publishMessage({ roomId: 'room2', authorId: 'ann', text: 'hello' });
    await waitFor(async () => (await itemCount(bob!)) === 1);
    notifier!.clock.now += 10 * MINUTE;
    await waitFor(() => mailTo('bob@').length === 1);
    // mailparser folds the List-* headers into one `list` object.
    const list = mailTo('bob@')[0]!.headers.get('list') as unknown as { unsubscribe: { url: string } };
    const link = new URL(list.unsubscribe.url);
    expect(link.origin).toBe('https://chat.example.test');
    expect(mailTo('bob@')[0]!.text).toContain(link.toString());
    const local = `${link.pathname}${link.search}`;

    const page = await notifier!.api(null, local);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<form method="post"');
    const before = await (await notifier!.api(bob!, '/api/notifications/preferences')).json();
    expect(before).toMatchObject({ email: true });

    const forged = await notifier!.api(null, local.replace(/.{4}$/, 'AAAA'), { method: 'POST' });
    expect(forged.status).toBe(404);
    const oneClick = await notifier!.api(null, local, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(oneClick.status).toBe(200);
    const after = await (await notifier!.api(bob!, '/api/notifications/preferences')).json();
    expect(after).toMatchObject({ email: false });

    await notifier!.publishMessage({ roomId: 'room2', authorId: 'ann', text: 'no more email' });
    await waitFor(async () => {
      const res = await notifier!.api(bob!, '/api/notifications');
      return ((await res.json()) as { items: unknown[] }).items.length === 2;
    });
    notifier!.clock.now += 60 * MINUTE;
    await notifier!.handle.dispatchNow();
    expect(mailTo('bob@')).toHaveLength(1);
  });

  it('a read past a message cancels its email; an edit changes it; a delete removes it', async () => {
    const [, bob] = await setup();
    const m1 = await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'read already' });
    notifier!.clock.now += 1000;
    const m2 = await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'tpyo' });
    notifier!.clock.now += 1000;
    const m3 = await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'regrettable' });
    await notifier!.publish(subjects.read('room1'), {
      id: 'read-1',
      roomId: 'room1',
      userId: 'bob',
      messageId: m1.messageId,
      at: notifier!.clock.now,
    });
    await notifier!.publish(subjects.messageEdited('room1'), {
      id: 'edit-1',
      roomId: 'room1',
      messageId: m2.messageId,
      authorId: 'ann',
      text: 'typo fixed',
      editedAt: notifier!.clock.now,
    });
    await notifier!.publish(subjects.messageDeleted('room1'), {
      id: 'del-1',
      roomId: 'room1',
      messageId: m3.messageId,
      deletedBy: 'ann',
    });
    await waitFor(async () => {
      const res = await notifier!.api(bob!, '/api/notifications');
      const items = ((await res.json()) as { items: { body: string; readAt: number | null }[] }).items;
      return items.length === 2 && items.some((i) => i.body === 'typo fixed') && items.some((i) => i.readAt !== null);
    });
    notifier!.clock.now += 10 * MINUTE;
    await waitFor(() => mailTo('bob@').length === 1);
    const mail = mailTo('bob@')[0]!;
    expect(mail.subject).toBe('ANN in General');
    expect(mail.text).toContain('typo fixed');
    expect(mail.text).not.toContain('tpyo');
    expect(mail.text).not.toContain('read already');
    expect(mail.text).not.toContain('regrettable');
  });

  it('follows preferences changed during the delay: a muted room and email turned off stop what waits', async () => {
    const [, bob, cy] = await setup();
    await notifier!.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'in the room bob mutes' });
    await notifier!.publishMessage({ roomId: 'room2', authorId: 'ann', text: 'in the room bob keeps' });
    await waitFor(async () => (await itemCount(bob!)) === 2 && (await itemCount(cy!)) === 1);
    const put = (user: { token: string }, body: unknown) =>
      notifier!.api(user, '/api/notifications/preferences', { method: 'PUT', body: JSON.stringify(body) });
    expect((await put(bob!, { rooms: { room1: 'none' } })).status).toBe(200);
    expect((await put(cy!, { email: false })).status).toBe(200);
    notifier!.clock.now += 10 * MINUTE;
    await waitFor(() => mailTo('bob@').length === 1);
    await notifier!.handle.dispatchNow();
    expect(mailTo('bob@')[0]?.text).toContain('in the room bob keeps');
    expect(mailTo('bob@')[0]?.text).not.toContain('in the room bob mutes');
    expect(mailTo('cy@')).toHaveLength(0);
  });

  it('sends no email to a member who was online in the room', async () => {
    const [, bob] = await setup();
    await notifier!.publishMessage({ roomId: 'room2', authorId: 'ann', text: 'seen live', onlineUserIds: ['bob'] });
    await waitFor(async () => {
      const res = await notifier!.api(bob!, '/api/notifications');
      return ((await res.json()) as { items: unknown[] }).items.length === 1;
    });
    notifier!.clock.now += 60 * MINUTE;
    await notifier!.handle.dispatchNow();
    expect(received).toHaveLength(0);
  });

  it('writes .eml files under DATA_DIR/mail when no SMTP server is configured', async () => {
    notifier = await startTestNotifier();
    notifier.auth.addUser('ann');
    notifier.auth.addUser('bob');
    notifier.auth.addRoom('room1', 'General', ['ann', 'bob']);
    await notifier.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'to a file' });
    await waitFor(async () => {
      const res = await notifier!.api({ token: 'token-bob' }, '/api/notifications');
      return ((await res.json()) as { items: unknown[] }).items.length === 1;
    });
    notifier.clock.now += 10 * MINUTE;
    const dir = path.join(notifier.dataDir, 'mail');
    // The directory may exist before the file is in it: wait for the file, not for the directory.
    const files = await waitFor(() => {
      const eml = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.eml')) : [];
      return eml.length > 0 ? eml : null;
    });
    expect(files).toHaveLength(1);
    const parsed = await simpleParser(fs.readFileSync(path.join(dir, files[0]!)));
    expect(parsed.text).toContain('to a file');
    expect(JSON.stringify(parsed.headers.get('list'))).toContain('/api/notifications/unsubscribe?token=');
  });
});

describe('forgotten-password emails over a real SMTP server', () => {
  it('sends the link at once, with the display name escaped, ignoring the user’s email preferences', async () => {
    const [, bob] = await setup();
    // Bob turned emails off: a reset link is not a notification, it still goes.
    const off = await notifier!.api(bob!, '/api/notifications/preferences', {
      method: 'PUT',
      body: JSON.stringify({ email: false }),
    });
    expect(off.status).toBe(200);
    const token = 'k'.repeat(32);
    await notifier!.publish(subjects.passwordResetRequested, {
      id: 'reset-evt-1',
      userId: 'bob',
      email: 'bob@example.test',
      displayName: 'Bob <script>',
      token,
      expiresAt: notifier!.clock.now + 30 * MINUTE,
    });
    await waitFor(() => mailTo('bob@example.test').length === 1);
    const mail = mailTo('bob@example.test')[0]!;
    expect(mail.subject).toBe('Set a new Confab password');
    expect(mail.text).toContain(`https://chat.example.test/reset-password?token=${token}`);
    expect(mail.text).toContain('for 30 minutes');
    expect(mail.text).toContain('Hello Bob <script>,');
    expect(mail.html).toContain('Bob &lt;script&gt;');
    expect(mail.html).toContain(`href="https://chat.example.test/reset-password?token=${token}"`);
    expect(mail.messageId).toBe('<reset-evt-1@confab.notifier>');
  });
});
