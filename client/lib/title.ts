/**
 * The browser tab's title: the page (a room's name) and, in front, how many notifications are
 * unread, as other chats do ("(3) Design · Confab"); an installed app's icon shows the same count
 * where the platform has app badges (`navigator.setAppBadge`).
 */
export function pageTitle(page: string | null, unread: number): string {
  return `${unread > 0 ? `(${unread}) ` : ''}${page ? `${page} · ` : ''}Confab`;
}

let page: string | null = null;
let unread = 0;
let watching = false;

function apply(): void {
  if (typeof document === 'undefined') return;
  const wanted = pageTitle(page, unread);
  if (document.title !== wanted) document.title = wanted;
  // Next.js writes each route's own <title> ("Confab") when it navigates, after this ran: put ours back.
  if (!watching && typeof MutationObserver !== 'undefined') {
    watching = true;
    new MutationObserver(apply).observe(document.head, { childList: true, subtree: true, characterData: true });
  }
}

/** The page's part of the title (a room's name), or null for the app's name alone. */
export function setTitlePage(name: string | null): void {
  page = name;
  apply();
}

/** The unread count's part of the title, and the installed app's badge. */
export function setTitleUnread(count: number): void {
  unread = count;
  apply();
  const nav = typeof navigator === 'undefined' ? undefined : (navigator as Navigator & AppBadge);
  if (!nav?.setAppBadge) return;
  // A refusal (not installed, not allowed) changes nothing for the page.
  void (count > 0 ? nav.setAppBadge(count) : nav.clearAppBadge?.())?.catch(() => {});
}

interface AppBadge {
  setAppBadge?(count?: number): Promise<void>;
  clearAppBadge?(): Promise<void>;
}
