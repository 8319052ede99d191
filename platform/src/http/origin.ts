import { HttpError } from './errors';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method.toUpperCase());
}

/**
 * The CSRF rule (CONTRACT "HTTP conventions"): a state-changing request that
 * a browser could send on its own, i.e. one that relies on the session
 * cookie, must carry an `Origin` equal to PUBLIC_URL's origin. Requests that
 * authenticate with a Bearer header are exempt (a cross-site page cannot set
 * that header). An `Origin` that is present and foreign is refused even
 * without a cookie, so a foreign page cannot log a browser into an account
 * (login CSRF); an absent one is fine then (bots, curl).
 * Returns null when allowed, else why not.
 */
export function originProblem(input: {
  method: string;
  origin: string | null | undefined;
  publicOrigin: string;
  cookieAuthenticated: boolean;
}): string | null {
  if (isSafeMethod(input.method)) return null;
  if (input.origin) {
    return input.origin === input.publicOrigin ? null : `origin ${input.origin} is not ${input.publicOrigin}`;
  }
  return input.cookieAuthenticated ? 'a cookie-authenticated request must carry an Origin header' : null;
}

export function assertOrigin(input: Parameters<typeof originProblem>[0]): void {
  const problem = originProblem(input);
  if (problem) throw new HttpError('bad_origin', problem);
}

/** `https://chat.example.com/app` → `https://chat.example.com` */
export function originOf(url: string): string {
  return new URL(url).origin;
}
