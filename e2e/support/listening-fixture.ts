/**
 * A minimal service for cluster-process.e2e.test.ts: listens on PORT, answers
 * /readyz, and reports its port the way every Confab service does.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { announceListening } from '@confab/platform/listening';

const server = http.createServer((req, res) => {
  res.writeHead(req.url === '/readyz' ? 200 : 404, { 'content-type': 'text/plain' }).end('fixture');
});
server.on('error', (error) => {
  process.stderr.write(`fixture: ${error.message}\n`);
  process.exit(1);
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  announceListening((server.address() as AddressInfo).port);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
