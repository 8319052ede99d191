import type { Directory, DirectoryMember, SessionInfo, SessionVerifier } from '@confab/platform';

/**
 * In-memory SessionVerifier and Directory for the notifier's tests. They
 * stand in for auth-server (another engineer's service, which the notifier
 * only meets through these ports); everything else in the tests is real.
 */
export class FakeAuth implements SessionVerifier, Directory {
  private readonly sessions = new Map<string, SessionInfo>();
  private readonly rooms = new Map<string, { id: string; name: string; members: DirectoryMember[] }>();
  private readonly users = new Map<string, { id: string; email: string; displayName: string }>();
  /** Calls to `room()`, to see the cache at work. */
  roomLookups = 0;
  /** While true, every call fails as if auth-server were unreachable. */
  down = false;

  private check(): void {
    if (this.down) throw new Error('auth-server unreachable (test)');
  }

  addUser(id: string, displayName = id, email = `${id}@example.test`): { id: string; token: string } {
    this.users.set(id, { id, email, displayName });
    const token = `token-${id}`;
    this.sessions.set(token, { userId: id, sessionId: `session-${id}` });
    return { id, token };
  }

  /** Another signed-in device of an existing user. */
  addSession(userId: string, sessionId: string): { token: string } {
    const token = `token-${sessionId}`;
    this.sessions.set(token, { userId, sessionId });
    return { token };
  }

  addRoom(id: string, name: string, memberIds: readonly string[]): void {
    this.rooms.set(id, { id, name, members: [] });
    for (const userId of memberIds) this.setMember(id, userId, 'member');
  }

  setMember(roomId: string, userId: string, role: DirectoryMember['role'] | null): void {
    const room = this.rooms.get(roomId);
    const user = this.users.get(userId);
    if (!room || !user) throw new Error(`unknown room ${roomId} or user ${userId}`);
    room.members = room.members.filter((m) => m.id !== userId);
    if (role) room.members.push({ ...user, role });
  }

  async verify(credentials: { cookie?: string | undefined; authorization?: string | undefined }) {
    this.check();
    const bearer = /^Bearer (\S+)$/.exec(credentials.authorization ?? '')?.[1];
    const cookie = /(?:^|;\s*)confab_session=([^;]+)/.exec(credentials.cookie ?? '')?.[1];
    return this.sessions.get(bearer ?? cookie ?? '') ?? null;
  }

  async room(roomId: string) {
    this.check();
    this.roomLookups++;
    const room = this.rooms.get(roomId);
    return room ? { ...room, members: [...room.members] } : null;
  }

  async user(userId: string) {
    return this.users.get(userId) ?? null;
  }

  async roomIdsOf(userId: string) {
    return [...this.rooms.values()].filter((r) => r.members.some((m) => m.id === userId)).map((r) => r.id);
  }
}
