import * as Y from 'yjs';

/**
 * Keeps tabs of the same browser in step while the server is out of reach:
 * every local Yjs update of a document is posted on a BroadcastChannel named
 * after the account and document, and applied by the other tabs. On start a
 * tab posts its state vector; each peer answers with what the newcomer misses
 * and its own vector, so two tabs that were both offline converge without the
 * server. Start it after the IndexedDB content is loaded.
 */
type RelayMessage =
  | { type: 'update'; update: Uint8Array }
  | { type: 'hello'; stateVector: Uint8Array }
  | { type: 'vector'; stateVector: Uint8Array }
  | { type: 'diff'; update: Uint8Array };

export interface ChannelLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  close(): void;
}

export function startTabRelay(
  doc: Y.Doc,
  channelName: string,
  openChannel: (name: string) => ChannelLike = (name) => new BroadcastChannel(name),
): () => void {
  const channel = openChannel(channelName);
  // Updates that arrived through the relay carry this origin so they are not echoed back.
  const origin = { relay: channelName };

  const onUpdate = (update: Uint8Array, updateOrigin: unknown) => {
    if (updateOrigin === origin) return;
    channel.postMessage({ type: 'update', update } satisfies RelayMessage);
  };
  const onMessage = (event: MessageEvent) => {
    const message = event.data as RelayMessage;
    if (message.type === 'update' || message.type === 'diff') {
      Y.applyUpdate(doc, message.update, origin);
    } else {
      const update = Y.encodeStateAsUpdate(doc, message.stateVector);
      // An update of two bytes is empty: the other tab already has everything.
      if (update.length > 2) channel.postMessage({ type: 'diff', update } satisfies RelayMessage);
      // Answer a newcomer with our own vector so it sends what WE miss (a 'vector' is not answered: no ping-pong).
      if (message.type === 'hello') {
        channel.postMessage({ type: 'vector', stateVector: Y.encodeStateVector(doc) } satisfies RelayMessage);
      }
    }
  };

  doc.on('update', onUpdate);
  channel.addEventListener('message', onMessage);
  channel.postMessage({ type: 'hello', stateVector: Y.encodeStateVector(doc) } satisfies RelayMessage);

  return () => {
    doc.off('update', onUpdate);
    channel.removeEventListener('message', onMessage);
    channel.close();
  };
}
