import Bowser from 'bowser';

/**
 * A signed-in device as people name it ("Chrome on Linux", "Safari on
 * iPhone"), read from the user agent the auth server recorded at sign-in;
 * null when nothing in it is recognised (a script, an empty header), so the
 * caller can show the raw string instead.
 */
export function deviceName(userAgent: string | null | undefined): string | null {
  if (!userAgent?.trim()) return null;
  const { browser, os, platform } = Bowser.parse(userAgent);
  // "iPhone" and "iPad" say more than "iOS"; other devices go by their system.
  const where = platform.model === 'iPhone' || platform.model === 'iPad' ? platform.model : os.name;
  if (browser.name && where) return `${browser.name} on ${where}`;
  return browser.name || where || null;
}
