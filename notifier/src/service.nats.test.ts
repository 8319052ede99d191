import { needService, waitFor } from '@confab/platform/testing';
import { subjects } from '@confab/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSse, startTestNotifier, type TestNotifier } from './testing/harness';

const nats = await needService('nats');

describe.skipIf(!nats)('notifier service over NATS JetStream', () => {
  let notifier: TestNotifier;
  beforeAll(async () => {
    notifier = await startTestNotifier({ busKind: 'nats' });
    for (const id of ['ann', 'bob', 'cy']) notifier.auth.addUser(id, id.toUpperCase());
    notifier.auth.addRoom('room1', 'General', ['ann', 'bob', 'cy']);
  });
  afterAll(async () => {
    await notifier?.close();
  });

  const bodiesOf = async (userId: string) => {
    const res = await notifier.api({ token: `token-${userId}` }, '/api/notifications');
    return ((await res.json()) as { items: { body: string; kind: string }[] }).items.map((i) => `${i.kind}:${i.body}`);
  };

  it('turns JetStream events into notifications and streams them', async () => {
    const stream = readSse(await notifier.api({ token: 'token-bob' }, '/api/notifications/stream'));
    await waitFor(() => stream.events.some((e) => e.event === 'ready'));
    const original = await notifier.publishMessage({ roomId: 'room1', authorId: 'bob', text: 'question' });
    await notifier.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'answer', replyTo: original.messageId });
    await waitFor(async () => (await bodiesOf('cy')).length === 2, { timeoutMs: 10_000 });
    expect(await bodiesOf('bob')).toEqual(['reply:answer']);
    await waitFor(() => stream.events.some((e) => e.event === 'notification'));
    expect(JSON.parse(stream.events.find((e) => e.event === 'notification')!.data).kind).toBe('reply');
  });

  it('drops a removed member from the next message at once', async () => {
    notifier.auth.setMember('room1', 'cy', null);
    await notifier.publish(subjects.membershipChanged, { id: 'mc-nats-1', roomId: 'room1', userId: 'cy', role: null });
    await notifier.publishMessage({ roomId: 'room1', authorId: 'ann', text: 'after cy left' });
    await waitFor(async () => (await bodiesOf('bob')).length === 2, { timeoutMs: 10_000 });
    expect(await bodiesOf('cy')).toEqual(['message:answer', 'message:question']);
  });
});
