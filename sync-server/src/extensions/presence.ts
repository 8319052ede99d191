import type { Connection, Hocuspocus } from '@hocuspocus/server';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isSyncContext } from './context';

/**
 * Who has an open connection to a document, on this instance or any other.
 * `onlineUserIds` of `message.created` comes from here.
 */
export interface Presence {
  join(documentName: string, connection: Connection): Promise<void>;
  leave(documentName: string, connection: Connection): Promise<void>;
  online(documentName: string): Promise<readonly string[]>;
  stop(): Promise<void>;
}

/**
 * One instance: the connections Hocuspocus holds are the whole truth. The
 * sorted list of a room's users is kept until a connection to the room joins
 * or leaves (or the room's connection count moves without either, e.g. a
 * connection closed before it was announced), instead of being rebuilt from
 * every connection for every new message.
 */
export class LocalPresence implements Presence {
  private readonly cache = new Map<string, { connections: number; users: readonly string[] }>();

  constructor(private readonly hocuspocus: () => Hocuspocus) {}

  async join(documentName: string): Promise<void> {
    this.cache.delete(documentName);
  }

  async leave(documentName: string): Promise<void> {
    this.cache.delete(documentName);
  }

  async online(documentName: string): Promise<readonly string[]> {
    const document = this.hocuspocus().documents.get(documentName);
    if (!document) {
      this.cache.delete(documentName);
      return [];
    }
    const connections = document.getConnectionsCount();
    const cached = this.cache.get(documentName);
    if (cached && cached.connections === connections) return cached.users;
    const users = new Set<string>();
    for (const connection of document.getConnections()) {
      if (isSyncContext(connection.context)) users.add(connection.context.userId);
    }
    const sorted = Object.freeze([...users].sort());
    this.cache.set(documentName, { connections, users: sorted });
    return sorted;
  }

  async stop(): Promise<void> {
    this.cache.clear();
  }
}

/**
 * Several instances: a sorted set per document in Redis, one member per
 * connection (`<instance>|<socket>|<user>`) scored with its expiry, refreshed
 * by a heartbeat, so a crashed instance's members fade out on their own.
 */
export class RedisPresence implements Presence {
  private readonly local = new Map<string, Set<string>>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly options: { prefix: string; instanceId: string; logger: Logger; ttlMs?: number },
  ) {
    const ttlMs = options.ttlMs ?? 60_000;
    this.timer = setInterval(() => void this.heartbeat(ttlMs), Math.floor(ttlMs / 3));
    this.timer.unref();
  }

  private key(documentName: string): string {
    return `${this.options.prefix}:presence:${documentName}`;
  }

  private member(connection: Connection): string | null {
    if (!isSyncContext(connection.context)) return null;
    return `${this.options.instanceId}|${connection.socketId}|${connection.context.userId}`;
  }

  async join(documentName: string, connection: Connection): Promise<void> {
    const member = this.member(connection);
    if (!member) return;
    let members = this.local.get(documentName);
    if (!members) {
      members = new Set();
      this.local.set(documentName, members);
    }
    members.add(member);
    await this.redis.zadd(this.key(documentName), Date.now() + (this.options.ttlMs ?? 60_000), member);
  }

  async leave(documentName: string, connection: Connection): Promise<void> {
    const member = this.member(connection);
    if (!member) return;
    const members = this.local.get(documentName);
    members?.delete(member);
    if (members?.size === 0) this.local.delete(documentName);
    await this.redis.zrem(this.key(documentName), member);
  }

  async online(documentName: string): Promise<string[]> {
    const members = await this.redis.zrangebyscore(this.key(documentName), Date.now(), '+inf');
    const users = new Set(members.map((m) => m.slice(m.lastIndexOf('|') + 1)));
    return [...users].sort();
  }

  private async heartbeat(ttlMs: number): Promise<void> {
    try {
      const expiry = Date.now() + ttlMs;
      const pipeline = this.redis.pipeline();
      for (const [documentName, members] of this.local) {
        const key = this.key(documentName);
        for (const member of members) pipeline.zadd(key, expiry, member);
        pipeline.zremrangebyscore(key, '-inf', Date.now());
        pipeline.pexpire(key, ttlMs * 2);
      }
      await pipeline.exec();
    } catch (error) {
      this.options.logger.warn({ err: error }, 'presence heartbeat failed');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const pipeline = this.redis.pipeline();
    for (const [documentName, members] of this.local) {
      for (const member of members) pipeline.zrem(this.key(documentName), member);
    }
    this.local.clear();
    await pipeline.exec().catch(() => {});
  }
}
