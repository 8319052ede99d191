import type { ServerChildOptions } from '../messages';
import type { RunningServer } from './types';

export async function startConfab(_options: ServerChildOptions): Promise<RunningServer> {
  throw new Error('Confab sync server not wired into the bench yet');
}
