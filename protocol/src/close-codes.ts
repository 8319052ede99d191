/**
 * WebSocket close events the sync server sends. Outcomes are data, in the
 * manner of Hocuspocus's CloseEvents: clients compare `code`, humans read `reason`.
 * 4xxx codes mirror HTTP statuses so they are easy to remember.
 */
export interface CloseEvent {
  readonly code: number;
  readonly reason: string;
}

export const CLOSE = {
  /** Token missing, malformed, forged or expired. Fetch a new one and retry. */
  unauthorized: { code: 4401, reason: 'unauthorized' },
  /** The token is valid but does not grant this document, or access was revoked. */
  forbidden: { code: 4403, reason: 'forbidden' },
  /** The session behind the connection was signed out. Do not retry. */
  sessionRevoked: { code: 4401, reason: 'session_revoked' },
  /** The user was removed from the room. Do not retry. */
  membershipRevoked: { code: 4403, reason: 'membership_revoked' },
  /** An owner deleted the room, for everyone (410 Gone). Do not retry. */
  roomDeleted: { code: 4410, reason: 'room_deleted' },
  /** An update broke a rule of the room schema; it was not applied. */
  forbiddenUpdate: { code: 4422, reason: 'forbidden_update' },
  /** The client speaks an older protocol: the app must be updated. */
  upgradeRequired: { code: 4426, reason: 'upgrade_required' },
  /** A frame above the size limit (RFC 6455 "message too big"). */
  messageTooBig: { code: 1009, reason: 'message_too_big' },
  /** The server is shutting down; reconnect elsewhere. */
  goingAway: { code: 1001, reason: 'going_away' },
  /** Too many updates in too short a time; the last one was not applied. Reconnect with backoff and resend. */
  rateLimited: { code: 4429, reason: 'rate_limited' },
  /**
   * The room could not be loaded or an update could not be stored (RFC 6455 "try again later");
   * nothing unstored was acknowledged. Reconnect with backoff: unacknowledged updates are sent again.
   */
  tryAgainLater: { code: 1013, reason: 'try_again_later' },
} as const satisfies Record<string, CloseEvent>;

export type CloseKind = keyof typeof CLOSE;

/** Close reasons after which a client should not reconnect with the same credentials. */
export const TERMINAL_CLOSE_REASONS: ReadonlySet<string> = new Set([
  CLOSE.sessionRevoked.reason,
  CLOSE.membershipRevoked.reason,
  CLOSE.roomDeleted.reason,
  CLOSE.upgradeRequired.reason,
]);
