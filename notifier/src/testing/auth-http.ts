import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FakeAuth } from './fakes';

/**
 * auth-server's internal API (as platform/src/auth-client.ts calls it),
 * answered from a FakeAuth, so a standalone notifier process can run
 * against it in tests.
 */
export async function serveFakeAuth(
  auth: FakeAuth,
  internalToken: string,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${internalToken}`)
      return send(401, { error: { code: 'unauthenticated' } });
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (req.method === 'POST' && url.pathname === '/internal/sessions/verify') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const session = await auth.verify(JSON.parse(Buffer.concat(chunks).toString() || '{}'));
      return session ? send(200, session) : send(401, { error: { code: 'unauthenticated' } });
    }
    if (req.method === 'GET' && parts[0] === 'internal' && parts[1] === 'rooms' && parts[2]) {
      const room = await auth.room(parts[2]);
      return room ? send(200, room) : send(404, { error: { code: 'not_found' } });
    }
    if (req.method === 'GET' && parts[0] === 'internal' && parts[1] === 'users' && parts[2]) {
      if (parts[3] === 'rooms') return send(200, { rooms: (await auth.roomIdsOf(parts[2])).map((id) => ({ id })) });
      const user = await auth.user(parts[2]);
      return user ? send(200, user) : send(404, { error: { code: 'not_found' } });
    }
    send(404, { error: { code: 'not_found' } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
