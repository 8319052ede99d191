import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child } from '../child';
import type { Recorder } from '../results';
import type { CrdtCase, CrdtFigures } from './crdt-child';
import { AUTHORS, MODELS } from './models';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crdt-child.ts');
const APPENDS = 200;

type ChildOut = { type: 'figures'; figures: CrdtFigures } | { type: 'failed'; error: string };

/** Yjs (room schema v1 through @confab/protocol) against Automerge 3, same model, same sizes. */
export async function runCrdt(messageCounts: number[], record: Recorder): Promise<void> {
  for (const messages of messageCounts) {
    for (const model of Object.keys(MODELS) as (keyof typeof MODELS)[]) {
      const child = new Child<CrdtCase, ChildOut>(CHILD, [], { exposeGc: true });
      try {
        child.send({ model, messages, appends: APPENDS });
        const { figures } = await child.next('figures', 600_000);
        record({
          bench: 'crdt',
          model,
          messages,
          authors: AUTHORS,
          writers: MODELS[model].writers,
          appendsMeasured: APPENDS,
          ...figures,
        });
      } catch (error) {
        record({ bench: 'crdt', kind: 'error', model, messages, error: String(error) });
      } finally {
        child.kill();
      }
    }
  }
}
