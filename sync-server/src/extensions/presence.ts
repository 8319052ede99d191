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
  online(documentName: string): Promise<string[]>;
  stop(): Promise<void>;
}

/** One instance: the connections Hocuspocus holds are the whole truth. */
export class LocalPresence implements Presence {
  constructor(private readonly hocuspocus: () => Hocuspocus) {}
  async join(): Promise<void> {}
  async leave(): Promise<void> {}
  async online(documentName: string): Promise<string[]> {
    const document = this.hocuspocus().documents.get(documentName);
    const users = new Set<string>();
    for (const connection of document?.getConnections() ?? []) {
      if (isSyncContext(connection.context)) users.add(connection.context.userId);
    }
    return [...users].sort();
  }
  async stop(): Promise<void> {}
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
