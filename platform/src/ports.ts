import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * The seams between services. Services never import each other: in the
 * all-in-one process they are handed in-process implementations of these
 * ports (auth-server exports them), and when run alone they use the HTTP
 * implementations that talk to AUTH_URL. Both are tested.
 */

/** Who is behind a request: from the `confab_session` cookie or a Bearer token. */
export interface SessionInfo {
  readonly userId: string;
  readonly sessionId: string;
}

export interface SessionVerifier {
  /** Null when there is no valid session. `cookie` and `authorization` are the raw header values. */
  verify(credentials: { cookie?: string | undefined; authorization?: string | undefined }): Promise<SessionInfo | null>;
}

export interface DirectoryUser {
  readonly id: string;
  readonly email: string;
  readonly displayName: string;
}

export interface DirectoryMember extends DirectoryUser {
  readonly role: 'owner' | 'member' | 'reader';
}

/** Read-only view of users and memberships, for the notifier (and anyone else who needs names). */
export interface Directory {
  /** The room's name and members, or null when the room does not exist. */
  room(roomId: string): Promise<{ id: string; name: string; members: DirectoryMember[] } | null>;
  user(userId: string): Promise<DirectoryUser | null>;
  /** Room ids the user belongs to (validating per-room preferences). */
  roomIdsOf(userId: string): Promise<string[]>;
}

/**
 * What every service's `start…()` returns. The standalone main wraps it in
 * an HTTP server; the all-in-one process routes paths to it by prefix.
 */
export interface ServiceHandle {
  readonly name: string;
  /** Answers the service's routes (including nothing else: the caller routes by prefix). */
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  /** WebSocket upgrades, for services that take them. */
  handleUpgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Its database and bus are reachable (for /readyz). */
  ready(): Promise<boolean>;
  /** Drains connections, flushes stores, acks in-flight events. Idempotent. */
  stop(): Promise<void>;
}
