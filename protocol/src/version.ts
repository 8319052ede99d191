/**
 * The sync protocol version. Clients send it as the `protocolVersion`
 * parameter of the WebSocket URL; a server that no longer understands it
 * closes with `upgrade_required`, so a months-old offline PWA is told to
 * update instead of failing obscurely. Bump on an incompatible change to the
 * room schema or the sync handshake, and keep MIN_SUPPORTED as low as possible.
 */
export const PROTOCOL_VERSION = 1;
export const MIN_SUPPORTED_PROTOCOL_VERSION = 1;
export const ROOM_SCHEMA_VERSION = 1;

export function isSupportedProtocolVersion(version: number): boolean {
  return Number.isInteger(version) && version >= MIN_SUPPORTED_PROTOCOL_VERSION && version <= PROTOCOL_VERSION;
}
