import type { ApiResult, SyncToken } from './api';

/**
 * Hands out sync tokens per document. When the shared WebSocket reconnects,
 * every attached provider asks for a token at once; the broker collects those
 * asks for `batchWindowMs` and makes ONE `POST /api/auth/sync-token
 * {documents}` call (CONTRACT allows up to 100 per call). Tokens are reused
 * until `refreshMarginMs` before they expire (they live at most 15 minutes).
 */
export type TokenOutcome = { ok: true; token: string } | { ok: false; reason: 'offline' | 'forbidden' | 'signed_out' };

export interface TokenBrokerOptions {
  fetchOne: (document: string) => Promise<ApiResult<SyncToken>>;
  fetchMany: (documents: string[]) => Promise<ApiResult<{ tokens: Record<string, SyncToken> }>>;
  now?: () => number;
  batchWindowMs?: number;
  refreshMarginMs?: number;
}

export const MAX_DOCUMENTS_PER_TOKEN_CALL = 100;

interface Waiter {
  document: string;
  resolve: (outcome: TokenOutcome) => void;
}

function expiryMs(expiresAt: string | number): number {
  return typeof expiresAt === 'number' ? expiresAt : Date.parse(expiresAt);
}

function failureReason(status: number, code: string): 'offline' | 'forbidden' | 'signed_out' {
  if (code === 'offline' || status === 0 || status >= 500) return 'offline';
  if (status === 401) return 'signed_out';
  return 'forbidden';
}

export function createTokenBroker({
  fetchOne,
  fetchMany,
  now = Date.now,
  batchWindowMs = 15,
  refreshMarginMs = 30_000,
}: TokenBrokerOptions) {
  const cache = new Map<string, { token: string; expiresAtMs: number }>();
  let queue: Waiter[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;

  async function flush(): Promise<void> {
    timer = null;
    const waiters = queue;
    queue = [];
    const documents = [...new Set(waiters.map((w) => w.document))];
    const results = new Map<string, TokenOutcome>();
    for (let i = 0; i < documents.length; i += MAX_DOCUMENTS_PER_TOKEN_CALL) {
      const chunk = documents.slice(i, i + MAX_DOCUMENTS_PER_TOKEN_CALL);
      if (chunk.length === 1) {
        const doc = chunk[0]!;
        const result = await fetchOne(doc);
        if (result.ok) {
          cache.set(doc, { token: result.data.token, expiresAtMs: expiryMs(result.data.expiresAt) });
          results.set(doc, { ok: true, token: result.data.token });
        } else {
          results.set(doc, { ok: false, reason: failureReason(result.status, result.code) });
        }
        continue;
      }
      const result = await fetchMany(chunk);
      for (const doc of chunk) {
        if (!result.ok) {
          results.set(doc, { ok: false, reason: failureReason(result.status, result.code) });
          continue;
        }
        const granted = result.data.tokens[doc];
        if (granted) {
          cache.set(doc, { token: granted.token, expiresAtMs: expiryMs(granted.expiresAt) });
          results.set(doc, { ok: true, token: granted.token });
        } else {
          // CONTRACT: documents the user may not open are left out of the answer.
          results.set(doc, { ok: false, reason: 'forbidden' });
        }
      }
    }
    for (const waiter of waiters) waiter.resolve(results.get(waiter.document) ?? { ok: false, reason: 'offline' });
  }

  return {
    /** A token for `document`, from the cache while it has more than the margin left. */
    get(document: string): Promise<TokenOutcome> {
      const cached = cache.get(document);
      if (cached && cached.expiresAtMs - refreshMarginMs > now()) {
        return Promise.resolve({ ok: true, token: cached.token });
      }
      return new Promise((resolve) => {
        queue.push({ document, resolve });
        if (!timer) timer = setTimeout(() => void flush(), batchWindowMs);
      });
    },
    /** Forget a token the server refused, so the next ask fetches a new one. */
    invalidate(document: string): void {
      cache.delete(document);
    },
    clear(): void {
      cache.clear();
    },
  };
}

export type TokenBroker = ReturnType<typeof createTokenBroker>;
