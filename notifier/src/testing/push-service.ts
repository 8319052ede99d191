import { createECDH, createPublicKey, type ECDH, randomBytes, verify } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { decrypt } from 'http_ece';
import { generate } from 'selfsigned';

/**
 * A local Web Push service: HTTPS with a self-signed certificate made for
 * the test, one endpoint per simulated browser. Each request is decrypted
 * with that browser's keys (aes128gcm, as a browser does) and its VAPID
 * JWT is checked against the public key the caller expects.
 */
export interface ReceivedPush {
  readonly browser: string;
  readonly payload: unknown;
  readonly ttl: string | undefined;
  readonly urgency: string | undefined;
  readonly topic: string | undefined;
  readonly contentEncoding: string | undefined;
  /** The VAPID JWT's claims, once its signature verified; null when it did not. */
  readonly vapidClaims: { aud: string; exp: number; sub: string } | null;
  readonly vapidKey: string | undefined;
}

export interface FakeBrowser {
  readonly name: string;
  readonly subscription: { endpoint: string; keys: { p256dh: string; auth: string } };
}

export interface PushService {
  readonly origin: string;
  readonly agent: https.Agent;
  /** The certificate, for NODE_EXTRA_CA_CERTS of a child process. */
  readonly certPem: string;
  /** Delays every answer (a slow push service keeps a batch in flight). */
  delayMs: number;
  readonly received: ReceivedPush[];
  /** Requests seen per browser, answered or not. */
  readonly hits: Map<string, number>;
  browser(name: string): FakeBrowser;
  /** The next answers for a browser's endpoint (then 201 again). */
  answer(name: string, ...responses: { status: number; headers?: Record<string, string> }[]): void;
  close(): Promise<void>;
}

function verifyVapid(header: string | undefined): { claims: ReceivedPush['vapidClaims']; key: string | undefined } {
  const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!match) return { claims: null, key: undefined };
  const [, jwt = '', key = ''] = match;
  const [head = '', body = '', signature = ''] = jwt.split('.');
  const raw = Buffer.from(key, 'base64url');
  const publicKey = createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: raw.subarray(1, 33).toString('base64url'),
      y: raw.subarray(33, 65).toString('base64url'),
    },
    format: 'jwk',
  });
  const ok = verify(
    'sha256',
    Buffer.from(`${head}.${body}`),
    { key: publicKey, dsaEncoding: 'ieee-p1363' },
    Buffer.from(signature, 'base64url'),
  );
  const alg = JSON.parse(Buffer.from(head, 'base64url').toString()).alg;
  if (!ok || alg !== 'ES256') return { claims: null, key };
  return { claims: JSON.parse(Buffer.from(body, 'base64url').toString()), key };
}

export async function startPushService(): Promise<PushService> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  const browsers = new Map<string, { ecdh: ECDH; auth: Buffer }>();
  const scripted = new Map<string, { status: number; headers?: Record<string, string> }[]>();
  const received: ReceivedPush[] = [];
  const hits = new Map<string, number>();
  const server = https.createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      if (service.delayMs > 0) await new Promise((r) => setTimeout(r, service.delayMs));
      const name = decodeURIComponent((req.url ?? '').replace(/^\/push\//, ''));
      hits.set(name, (hits.get(name) ?? 0) + 1);
      const next = scripted.get(name)?.shift();
      if (next) {
        res.writeHead(next.status, next.headers ?? {});
        res.end();
        return;
      }
      const browser = browsers.get(name);
      if (!browser) {
        res.writeHead(404);
        res.end();
        return;
      }
      const vapid = verifyVapid(req.headers.authorization);
      const plaintext = decrypt(Buffer.concat(chunks), {
        version: 'aes128gcm',
        privateKey: browser.ecdh,
        authSecret: browser.auth,
      });
      received.push({
        browser: name,
        payload: JSON.parse(plaintext.toString()),
        ttl: req.headers.ttl as string | undefined,
        urgency: req.headers.urgency as string | undefined,
        topic: req.headers.topic as string | undefined,
        contentEncoding: req.headers['content-encoding'],
        vapidClaims: vapid.claims,
        vapidKey: vapid.key,
      });
      res.writeHead(201);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const agent = new https.Agent({ ca: pems.cert, keepAlive: false });
  const service: PushService = {
    origin,
    agent,
    certPem: pems.cert,
    delayMs: 0,
    received,
    hits,
    browser(name) {
      let keys = browsers.get(name);
      if (!keys) {
        const ecdh = createECDH('prime256v1');
        ecdh.generateKeys();
        keys = { ecdh, auth: randomBytes(16) };
        browsers.set(name, keys);
      }
      return {
        name,
        subscription: {
          endpoint: `${origin}/push/${encodeURIComponent(name)}`,
          keys: { p256dh: keys.ecdh.getPublicKey().toString('base64url'), auth: keys.auth.toString('base64url') },
        },
      };
    },
    answer(name, ...responses) {
      scripted.set(name, [...(scripted.get(name) ?? []), ...responses]);
    },
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return service;
}
