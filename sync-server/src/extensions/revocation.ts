import type { EventBus, Subscription } from '@confab/platform';
import {
  accessMessage,
  CLOSE,
  eventKindOf,
  eventSchemas,
  type MembershipChangedEvent,
  membersMessage,
  type RoomDeletedEvent,
  type RoomId,
  roomDocument,
  type SessionRevokedEvent,
  subjects,
  type UserDeletedEvent,
  type UserId,
  userDocument,
} from '@confab/protocol';
import type { Connection, connectedPayload, Extension } from '@hocuspocus/server';
import type { Logger } from 'pino';
import type { RevocationList } from '../storage/revocations';
import { MAX_TOKEN_LIFETIME_MS } from './auth';
import { isSyncContext, type SyncContext } from './context';
import type { Presence } from './presence';
import { closeSocket } from './update-pipeline';

const UUIDV7 = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/**
 * When a change happened: event ids are UUIDv7 (protocol `newEventId`), whose
 * first 48 bits are its creation time. Falls back to `nowMs` for other ids,
 * and never returns a time in the future.
 */
export function eventTimeMs(id: string, nowMs: number): number {
  const m = UUIDV7.exec(id);
  if (!m) return nowMs;
  const ms = Number.parseInt(`${m[1]}${m[2]}`, 16);
  return Math.min(ms, nowMs);
}

/**
 * Every live connection, by session, by (user, room) and by socket, so that
 * auth events can find the connections they concern on this instance.
 * Also keeps the presence set in step.
 */
export class ConnectionRegistry implements Extension {
  readonly extensionName = 'confab-connections';
  private readonly bySession = new Map<string, Set<Connection>>();
  private readonly byMember = new Map<string, Set<Connection>>();
  private readonly bySocket = new Map<string, Set<Connection>>();
  private readonly byRoom = new Map<string, Set<Connection>>();

  constructor(
    private readonly presence: Presence,
    private readonly logger: Logger,
  ) {}

  private static add(map: Map<string, Set<Connection>>, key: string, connection: Connection): void {
    let set = map.get(key);
    if (!set) {
      set = new Set();
      map.set(key, set);
    }
    set.add(connection);
  }

  private static remove(map: Map<string, Set<Connection>>, key: string, connection: Connection): void {
    const set = map.get(key);
    set?.delete(connection);
    if (set?.size === 0) map.delete(key);
  }

  private static memberKey(context: SyncContext): string | null {
    return context.document.kind === 'room' ? `${context.userId}|${context.document.roomId}` : null;
  }

  async connected({ connection, documentName }: connectedPayload): Promise<void> {
    const context = connection.context;
    if (!isSyncContext(context)) return;
    ConnectionRegistry.add(this.bySession, context.sessionId, connection);
    ConnectionRegistry.add(this.bySocket, connection.socketId, connection);
    const member = ConnectionRegistry.memberKey(context);
    const roomId = context.document.kind === 'room' ? context.document.roomId : null;
    if (member) ConnectionRegistry.add(this.byMember, member, connection);
    if (roomId) ConnectionRegistry.add(this.byRoom, roomId, connection);
    connection.onClose(() => {
      ConnectionRegistry.remove(this.bySession, context.sessionId, connection);
      ConnectionRegistry.remove(this.bySocket, connection.socketId, connection);
      if (member) ConnectionRegistry.remove(this.byMember, member, connection);
      if (roomId) ConnectionRegistry.remove(this.byRoom, roomId, connection);
      void this.presence.leave(documentName, connection).catch((error) => {
        this.logger.warn({ err: error, documentName }, 'presence leave failed');
      });
    });
    await this.presence.join(documentName, connection).catch((error) => {
      this.logger.warn({ err: error, documentName }, 'presence join failed');
    });
  }

  /** Closes every connection to the room (a deleted room) with `room_deleted`. Returns how many it ended. */
  closeRoom(roomId: string): number {
    const connections = [...(this.byRoom.get(roomId) ?? [])];
    for (const connection of connections) {
      const others = [...(this.bySocket.get(connection.socketId) ?? [])].filter((c) => c !== connection);
      connection.close(CLOSE.roomDeleted);
      if (others.length === 0) closeSocket(connection, CLOSE.roomDeleted);
    }
    return connections.length;
  }

  /** Closes every socket that carries a connection of the user (a deleted account). Returns how many it ended. */
  closeUser(userId: string): number {
    const connections = [...this.bySession.values()].flatMap((set) =>
      [...set].filter((c) => (c.context as SyncContext).userId === userId),
    );
    for (const connection of connections) closeSocket(connection, CLOSE.sessionRevoked);
    return connections.length;
  }

  /** Closes every socket that carries a connection of the session. Returns how many connections it ended. */
  closeSession(sessionId: string): number {
    const connections = [...(this.bySession.get(sessionId) ?? [])];
    for (const connection of connections) closeSocket(connection, CLOSE.sessionRevoked);
    return connections.length;
  }

  /**
   * Applies a membership change to the user's live connections to the room:
   * removed → the room's connection is closed (the socket too, when it carried
   * nothing else); a new role → it takes effect at once (reader = read-only).
   */
  membershipChanged(userId: string, roomId: string, role: SyncContext['role'] | null): number {
    const connections = [...(this.byMember.get(`${userId}|${roomId}`) ?? [])];
    for (const connection of connections) {
      if (role === null) {
        const others = [...(this.bySocket.get(connection.socketId) ?? [])].filter((c) => c !== connection);
        connection.close(CLOSE.membershipRevoked);
        if (others.length === 0) closeSocket(connection, CLOSE.membershipRevoked);
      } else {
        // The context object is the one every hook reads (the guard gets its role from it).
        (connection.context as { role: SyncContext['role'] }).role = role;
        connection.readOnly = role === 'reader';
        // Tell the client, so its screen follows now rather than at its next reconnect.
        connection.sendStateless(accessMessage(role));
      }
    }
    // The others in the room: their member list is out of date (a member who left stayed listed, with the
    // owner's role controls, until a reload; a newcomer not online in the room stayed unknown).
    const members = membersMessage();
    for (const other of this.byRoom.get(roomId) ?? []) {
      if ((other.context as SyncContext).userId !== userId) other.sendStateless(members);
    }
    return connections.length;
  }
}

export interface RevocationConsumerOptions {
  bus: EventBus;
  revocations: RevocationList;
  registry: ConnectionRegistry;
  instanceId: string;
  clock: () => number;
  logger: Logger;
  /** Deletes a document's storage (a deleted account's private `user:` document). */
  deleteDocument(document: string): Promise<void>;
}

/**
 * How long the bus keeps the durable consumer of an instance nobody pulls from:
 * the consumer of an instance that is gone for good (a Kubernetes pod replaced
 * by a rollout names itself after the pod) is deleted after it, instead of
 * piling up in JetStream. An instance back within it resumes where it left off.
 */
export const INSTANCE_CONSUMER_IDLE_MS = 24 * 60 * 60_000;

/**
 * Past this age an auth event concerns no open connection: every token issued
 * before it has expired (MAX_TOKEN_LIFETIME_MS), and a connection outlives its
 * token by at most the renewal grace (token-renewal's 30 s, here with room to
 * spare) unless a renewal, checked against the revocations and issued by the
 * auth server for the role held now, gave it a newer one.
 */
export const AUTH_EVENT_HORIZON_MS = MAX_TOKEN_LIFETIME_MS + 2 * 60_000;

/**
 * Consumes the auth events on every instance (one durable consumer per
 * instance, `sync-<instanceId>`, so each sees every event): records the
 * revocation in the database (so a token issued before it is refused here,
 * on other instances and after restarts) and then ends or downgrades the
 * local connections it concerns.
 *
 * A new instance's consumer starts at the oldest event the bus keeps (days),
 * so that a revocation published while every instance was down is still
 * recorded. Events replayed that way are old: they are recorded only while a
 * token from before them could still be valid, and touch no connection past
 * AUTH_EVENT_HORIZON_MS: the user may have been invited back or promoted
 * since, and the connection open now was authorised after the event.
 */
export async function consumeAuthEvents(options: RevocationConsumerOptions): Promise<Subscription> {
  const { bus, revocations, registry, instanceId, clock, logger, deleteDocument } = options;
  return bus.subscribe({
    durable: `sync-${instanceId}`,
    forgetAfterIdleMs: INSTANCE_CONSUMER_IDLE_MS,
    subjects: [subjects.sessionRevoked, subjects.membershipChanged, subjects.userDeleted, subjects.roomDeleted],
    // Revocations are independent of each other; a slow one must not hold back the next.
    concurrency: 16,
    handler: async ({ subject, event }) => {
      const now = clock();
      const at = eventTimeMs(event.id, now);
      // No token issued before an event this old can still be valid: nothing to record (a replay after a long outage).
      const stillMatters = now - at < MAX_TOKEN_LIFETIME_MS;
      // Deletions are acted on whatever their age: a replay only deletes again what is already gone.
      const deletion = subject === subjects.userDeleted || subject === subjects.roomDeleted;
      if (now - at >= AUTH_EVENT_HORIZON_MS && !deletion) {
        logger.debug({ subject, eventId: event.id, ageMs: now - at }, 'old auth event: no connection to act on');
        return;
      }
      const kind = eventKindOf(subject);
      const parsed = kind ? eventSchemas[kind].safeParse(event) : null;
      if (!parsed?.success) {
        logger.warn({ subject, eventId: event.id }, 'malformed auth event ignored');
        return;
      }
      switch (kind) {
        case 'room.deleted': {
          const { roomId } = parsed.data as RoomDeletedEvent;
          // Published before its members' removals, and closed here before any await: the open connections
          // learn that the room is gone (room_deleted), not that they were removed. The removals that follow
          // record the revocations that refuse their tokens. Then the room's document goes.
          const closed = registry.closeRoom(roomId);
          await deleteDocument(roomDocument(roomId as RoomId));
          logger.info({ roomId, closed }, 'room deleted: its document is gone');
          return;
        }
        case 'user.deleted': {
          const { userId } = parsed.data as UserDeletedEvent;
          // Its sessions were revoked first; close what is still open, then forget its private document
          // (drafts). Every instance does it (each sees every auth event); the second delete finds nothing.
          const closed = registry.closeUser(userId);
          await deleteDocument(userDocument(userId as UserId));
          logger.info({ userId, closed }, 'account deleted: its private document is gone');
          return;
        }
        case 'session.revoked': {
          const { sessionId } = parsed.data as SessionRevokedEvent;
          if (stillMatters) await revocations.revokeSession(sessionId, at);
          const closed = registry.closeSession(sessionId);
          logger.info({ sessionId, closed }, 'session revoked');
          return;
        }
        case 'membership.changed': {
          const { userId, roomId, role } = parsed.data as MembershipChangedEvent;
          // Every change is recorded with the role it sets; an older token is then refused (removed) or
          // served with that role, up or down (storage/revocations.ts). So a grant never refuses the token a
          // client fetches in the same second (JWT `iat` has second resolution), an owner demoted to member
          // cannot reconnect as owner with a token from before, and a reader promoted to member is not a
          // reader again after a reconnect with one.
          if (stillMatters) await revocations.membershipChanged(userId, roomId, role, at);
          const affected = registry.membershipChanged(userId, roomId, role);
          logger.info({ userId, roomId, role, affected }, 'membership changed');
          return;
        }
      }
    },
  });
}
