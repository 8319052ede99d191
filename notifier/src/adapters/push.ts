import { createHash } from 'node:crypto';
import dns from 'node:dns';
import type http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import webpush from 'web-push';

/**
 * Web Push over the `web-push` library (VAPID + aes128gcm payload
 * encryption). The result of a send is a value the dispatcher acts on.
 */
export type PushOutcome =
  | { kind: 'sent' }
  /** 404/410: the browser dropped the subscription; delete it. */
  | { kind: 'gone' }
  /** 429: try again after the push service's Retry-After. */
  | { kind: 'rate_limited'; retryAfterMs: number }
  /** 5xx or network trouble: try again with backoff. */
  | { kind: 'retry'; error: string }
  /** Any other 4xx: the request itself is wrong; retrying will not help. */
  | { kind: 'rejected'; error: string };

export interface PushMessage {
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
  readonly payload: string;
  readonly ttlSeconds: number;
  readonly urgency: 'very-low' | 'low' | 'normal' | 'high';
  readonly topic: string;
}

export interface PushSender {
  /**
   * Sends one push. `onHandedOff` runs once the whole request has been
   * handed to the operating system (it will reach the push service even if
   * this process dies now); the dispatcher records that, so a crash after
   * it does not send the push again.
   *
   * Why after the write and not just before it: some window between the
   * database and the socket always remains. Recorded after, a crash in it
   * repeats a push (same Topic and messageId, so it collapses); recorded
   * before, a crash in it loses one for good. crash.nats.test.ts saw both
   * when we tried the second order; a repeat is the lesser harm.
   */
  send(message: PushMessage, onHandedOff?: () => void): Promise<PushOutcome>;
}

export interface VapidKeys {
  readonly publicKey: string;
  readonly privateKey: string;
  readonly subject: string;
}

export function generateVapidKeys(): { publicKey: string; privateKey: string } {
  return webpush.generateVAPIDKeys();
}

/**
 * The Topic header: at most 32 URL-safe base64 characters, and the same for
 * every push of a room so the push service keeps only the latest one for a
 * device that is offline.
 */
export function pushTopic(roomId: string): string {
  return createHash('sha256').update(roomId).digest('base64url').slice(0, 32);
}

/** Parses Retry-After (seconds or an HTTP date); falls back to a minute. */
export function retryAfterMs(header: string | string[] | undefined, nowMs: number): number {
  const value = Array.isArray(header) ? header[0] : header;
  if (value) {
    const seconds = Number(value);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(value);
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs);
  }
  return 60_000;
}

export function createWebPushSender(options: {
  vapid: VapidKeys;
  /** An agent for the push services (tests pass one that trusts their local certificate). */
  agent?: https.Agent;
  allowPrivateEndpoints: boolean;
  timeoutMs?: number;
  clock?: () => number;
}): PushSender {
  const clock = options.clock ?? Date.now;
  // Checking the address at subscribe time is not enough: DNS may answer
  // differently later (rebinding). The agent checks every connection too.
  const agent =
    options.agent ??
    new https.Agent({ keepAlive: true, lookup: options.allowPrivateEndpoints ? undefined : publicOnlyLookup });
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    async send(message, onHandedOff) {
      // The agent's lookup guards host names only: Node connects to an IP literal without asking DNS.
      const literal = options.allowPrivateEndpoints ? null : privateLiteral(message.endpoint);
      if (literal) return { kind: 'rejected', error: `push endpoint points at a private address (${literal})` };
      let details: ReturnType<typeof webpush.generateRequestDetails>;
      try {
        // web-push builds the request (VAPID JWT, aes128gcm encryption, headers); sending it
        // here rather than with sendNotification exposes the moment it is handed off.
        details = webpush.generateRequestDetails(
          { endpoint: message.endpoint, keys: { p256dh: message.keys.p256dh, auth: message.keys.auth } },
          message.payload,
          {
            vapidDetails: options.vapid,
            TTL: message.ttlSeconds,
            urgency: message.urgency,
            topic: message.topic,
            contentEncoding: 'aes128gcm',
          },
        );
      } catch (error) {
        return { kind: 'rejected', error: error instanceof Error ? error.message : String(error) };
      }
      const response = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string } | Error>(
        (resolve) => {
          const request = https.request(details.endpoint, {
            method: details.method,
            headers: details.headers as http.OutgoingHttpHeaders,
            agent,
            timeout: timeoutMs,
          });
          request.on('finish', () => onHandedOff?.());
          request.on('timeout', () => request.destroy(new Error(`push service did not answer in ${timeoutMs} ms`)));
          request.on('error', (error) => resolve(error));
          request.on('response', (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              if (body.length < 1000) body += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
            res.on('error', (error) => resolve(error));
          });
          request.end(details.body ?? undefined);
        },
      );
      if (response instanceof Error) return { kind: 'retry', error: response.message };
      const { status } = response;
      if (status >= 200 && status < 300) return { kind: 'sent' };
      if (status === 404 || status === 410) return { kind: 'gone' };
      if (status === 429)
        return { kind: 'rate_limited', retryAfterMs: retryAfterMs(response.headers['retry-after'], clock()) };
      if (status >= 500) return { kind: 'retry', error: `push service answered ${status}` };
      return { kind: 'rejected', error: `push service answered ${status}: ${response.body.slice(0, 200)}` };
    },
  };
}

/** Addresses a push endpoint must not point at (SSRF): loopback, private, link-local, CGNAT, multicast, unspecified. */
const blocked = new net.BlockList();
for (const [address, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(address, prefix, 'ipv4');
}
for (const [address, prefix] of [
  // `::/96` covers `::` and `::1` too, and the deprecated IPv4-compatible form (`::127.0.0.1`).
  ['::', 96],
  ['::ffff:0:0:0', 96], // IPv4-translated (RFC 2765)
  ['100::', 64], // discard-only
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  blocked.addSubnet(address, prefix, 'ipv6');
}

export function isPrivateAddress(address: string): boolean {
  const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : null;
  if (!family) return true;
  if (family === 'ipv6') {
    // IPv4-mapped (::ffff:10.0.0.1) is judged as the IPv4 address it carries.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped?.[1]) return blocked.check(mapped[1], 'ipv4');
  }
  return blocked.check(address, family);
}

/** The endpoint's host when it is a private IP literal (WHATWG-normalized: `2130706433` is 127.0.0.1), else null. */
function privateLiteral(endpoint: string): string | null {
  let host: string;
  try {
    host = new URL(endpoint).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return null; // web-push refuses it with its own error
  }
  return net.isIP(host) && isPrivateAddress(host) ? host : null;
}

type LookupAll = (hostname: string) => Promise<{ address: string; family: number }[]>;

const systemLookup: LookupAll = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

export type EndpointCheck = { ok: true } | { ok: false; message: string };

/**
 * A subscription endpoint must be https and, unless private endpoints are
 * allowed, every address its host resolves to must be public.
 */
export async function checkPushEndpoint(
  endpoint: string,
  options: { allowPrivate: boolean; lookup?: LookupAll },
): Promise<EndpointCheck> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { ok: false, message: 'must be a URL' };
  }
  if (url.protocol !== 'https:') return { ok: false, message: 'must be an https: URL' };
  if (url.username || url.password) return { ok: false, message: 'must not carry credentials' };
  if (options.allowPrivate) return { ok: true };
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: { address: string }[];
  try {
    addresses = net.isIP(host) ? [{ address: host }] : await (options.lookup ?? systemLookup)(host);
  } catch {
    return { ok: false, message: `host ${host} does not resolve` };
  }
  if (addresses.length === 0) return { ok: false, message: `host ${host} does not resolve` };
  const bad = addresses.find((a) => isPrivateAddress(a.address));
  if (bad) return { ok: false, message: `must not point at a private or loopback address (${bad.address})` };
  return { ok: true };
}

function publicOnlyLookup(
  hostname: string,
  options: dns.LookupOptions,
  callback: (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void,
): void {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '');
    const list = addresses as dns.LookupAddress[];
    const bad = list.find((a) => isPrivateAddress(a.address));
    if (bad || list.length === 0) {
      const refusal: NodeJS.ErrnoException = new Error(`push endpoint ${hostname} resolves to a private address`);
      refusal.code = 'EPRIVATEADDRESS';
      return callback(refusal, '');
    }
    if (options.all) return callback(null, list);
    const first = list[0] as dns.LookupAddress;
    callback(null, first.address, first.family);
  });
}
