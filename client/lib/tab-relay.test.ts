import { waitFor } from '@confab/platform/testing';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { startTabRelay } from './tab-relay';

describe('tab relay', () => {
  it('brings two tabs that changed the same document offline to the same state', async () => {
    const channel = `test-${Math.random()}`;
    const tabA = new Y.Doc();
    const tabB = new Y.Doc();
    tabA.getArray('messages').push(['from A while alone']);
    tabB.getArray('messages').push(['from B while alone']);
    const stopA = startTabRelay(tabA, channel);
    const stopB = startTabRelay(tabB, channel);
    try {
      await waitFor(() => tabA.getArray('messages').length === 2 && tabB.getArray('messages').length === 2);
      tabA.getArray('messages').push(['live from A']);
      await waitFor(() => tabB.getArray('messages').length === 3);
      expect(tabA.getArray('messages').toJSON()).toEqual(tabB.getArray('messages').toJSON());
    } finally {
      stopA();
      stopB();
    }
  });

  it('stops relaying once stopped', async () => {
    const channel = `test-${Math.random()}`;
    const tabA = new Y.Doc();
    const tabB = new Y.Doc();
    const stopA = startTabRelay(tabA, channel);
    const stopB = startTabRelay(tabB, channel);
    tabA.getArray('messages').push(['one']);
    await waitFor(() => tabB.getArray('messages').length === 1);
    stopB();
    tabA.getArray('messages').push(['two']);
    await new Promise((r) => setTimeout(r, 100));
    expect(tabB.getArray('messages').length).toBe(1);
    stopA();
  });
});
