import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child } from '../child';
import type { Recorder } from '../results';
import type { BuildFigures, CrdtRequest, LoadFigures } from './crdt-child';
import { AUTHORS, MODELS } from './models';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crdt-child.ts');

type ChildOut = { type: 'figures'; figures: BuildFigures & LoadFigures } | { type: 'failed'; error: string };

async function inChild<T>(request: CrdtRequest): Promise<T> {
  const child = new Child<CrdtRequest, ChildOut>(CHILD, [], { exposeGc: true });
  try {
    child.send(request);
    return (await child.next('figures', 900_000)).figures as T;
  } finally {
    child.kill();
  }
}

/** Yjs (room schema v1 through @confab/protocol) against Automerge 3, same model, same sizes. */
export async function runCrdt(messageCounts: number[], appends: number, record: Recorder): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confab-bench-crdt-'));
  try {
    for (const messages of messageCounts) {
      for (const model of Object.keys(MODELS) as (keyof typeof MODELS)[]) {
        const file = path.join(dir, `${model}-${messages}.bin`);
        try {
          const built = await inChild<BuildFigures>({ phase: 'build', model, messages, file });
          const loaded = await inChild<LoadFigures>({ phase: 'load', model, messages, file, appends });
          record({
            bench: 'crdt',
            model,
            messages,
            authors: AUTHORS,
            writers: MODELS[model].writers,
            appendsMeasured: appends,
            ...built,
            ...loaded,
          });
        } catch (error) {
          record({ bench: 'crdt', kind: 'error', model, messages, error: String(error) });
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
