import type { CloseEvent, ParsedDocument, Role } from '@confab/protocol';

/** What onAuthenticate learned about a connection; every later hook reads it from `connection.context`. */
export interface SyncContext {
  readonly userId: string;
  readonly sessionId: string;
  readonly document: ParsedDocument;
  /** The role the token grants; `user:` documents are their owner's alone, so `owner` there. */
  readonly role: Role;
  readonly tokenExpiresAtMs: number;
}

/**
 * A refusal that Hocuspocus turns into a message for the client: thrown from
 * onAuthenticate it becomes the PermissionDenied reason, thrown from a message
 * hook its code and reason close that document's connection.
 */
export class CloseError extends Error implements CloseEvent {
  readonly code: number;
  readonly reason: string;
  constructor(event: CloseEvent, detail?: string) {
    super(detail ? `${event.reason}: ${detail}` : event.reason);
    this.code = event.code;
    this.reason = event.reason;
  }
}

export function isSyncContext(value: unknown): value is SyncContext {
  return typeof value === 'object' && value !== null && typeof (value as SyncContext).userId === 'string';
}
