import { isSupportedProtocolVersion } from '@confab/protocol';

/** CONTRACT: a WebSocket message over 1 MiB closes the connection with 1009. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * Browsers always send `Origin` on a WebSocket upgrade and scripts cannot
 * forge it, so a browser page from another site is refused; clients that are
 * not browsers (bots, tests, other servers) send none and are let through:
 * they still need a valid token.
 */
export function originAllowed(origin: string | undefined, publicOrigin: string): boolean {
  if (origin === undefined) return true;
  try {
    return new URL(origin).origin === publicOrigin;
  } catch {
    return false; // `null` (sandboxed frames, file://) and garbage
  }
}

/**
 * The client's sync protocol version, from the `protocolVersion` URL
 * parameter. Clients that send none are taken as version 1 (stock Hocuspocus
 * providers, bots written before versioning): once version 1 is no longer
 * supported they are told to upgrade like everyone else.
 */
export function protocolVersionOf(params: URLSearchParams): number {
  const raw = params.get('protocolVersion');
  if (raw === null) return 1;
  return /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
}

export function protocolVersionAccepted(params: URLSearchParams): boolean {
  return isSupportedProtocolVersion(protocolVersionOf(params));
}
