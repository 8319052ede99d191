'use client';

import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import { type ReactNode, useEffect, useRef, useState } from 'react';
import { useApp } from './AppProvider';
import { useOnline } from './hooks';
import { Notifications } from './Notifications';
import { PwaControls } from './Pwa';
import { RoomSwitcher } from './RoomSwitcher';

type Theme = 'system' | 'light' | 'dark';

export function ThemeToggle({ className }: { className?: string }) {
  const [theme, setTheme] = useState<Theme>('system');
  useEffect(() => {
    const saved = localStorage.getItem('confab:theme');
    if (saved === 'light' || saved === 'dark') setTheme(saved);
  }, []);
  const choose = (next: Theme) => {
    setTheme(next);
    if (next === 'system') {
      localStorage.removeItem('confab:theme');
      delete document.documentElement.dataset.theme;
    } else {
      localStorage.setItem('confab:theme', next);
      document.documentElement.dataset.theme = next;
    }
  };
  return (
    <label className={`field-inline ${className ?? ''}`} style={{ margin: 0 }}>
      <span className="sr-only">Theme</span>
      <select
        value={theme}
        onChange={(e) => choose(e.target.value as Theme)}
        style={{ width: 'auto', padding: '4px 6px' }}
      >
        <option value="system">System theme</option>
        <option value="light">Light</option>
        <option value="dark">Dark</option>
      </select>
    </label>
  );
}

function ConnectionPill() {
  const { connection } = useApp();
  const online = useOnline();
  const label = !online
    ? 'Offline'
    : connection.kind === 'online'
      ? 'Connected'
      : connection.kind === 'connecting'
        ? 'Connecting…'
        : connection.kind === 'offline'
          ? 'Reconnecting…'
          : 'Disconnected';
  return (
    <span
      className={`status-pill ${online && connection.kind === 'online' ? 'online' : ''}`}
      role="status"
      aria-live="polite"
    >
      {label}
    </span>
  );
}

/** Sends signed-out visitors to /login, remembering where they wanted to go. */
export function RequireUser({ children }: { children: ReactNode }) {
  const { ready, user, signedOutOnPurpose } = useApp();
  const router = useRouter();
  const pathname = usePathname();
  // One redirect per signed-out spell: offline, a navigation is a full page load, and a second one
  // would abort the first.
  const redirected = useRef(false);
  useEffect(() => {
    if (user) redirected.current = false;
    else if (ready && !redirected.current) {
      redirected.current = true;
      // Signed out on purpose: the login screen. Otherwise (expired, revoked, another tab) back here after signing in.
      const here = typeof window === 'undefined' ? pathname : window.location.pathname;
      router.replace(signedOutOnPurpose ? '/login' : `/login?next=${encodeURIComponent(here)}`);
    }
  }, [ready, user, router, pathname, signedOutOnPurpose]);
  if (!ready || !user) return <p className="page muted">Loading…</p>;
  return <>{children}</>;
}

export function Shell({ children }: { children: ReactNode }) {
  const { connection } = useApp();
  return (
    <div className="app">
      <header className="topbar">
        <Link href="/chat" className="brand">
          Confab
        </Link>
        <nav aria-label="Main">
          <Link href="/chat" className="button nav-chats">
            Chats
          </Link>
          <Link href="/profile" className="button">
            Profile
          </Link>
        </nav>
        <Notifications />
        <ConnectionPill />
        <ThemeToggle className="theme-toggle" />
        <PwaControls />
      </header>
      {connection.kind === 'upgrade_required' && (
        <div className="banner" role="alert">
          {connection.message}{' '}
          <button type="button" onClick={() => window.location.reload()}>
            Reload
          </button>
        </div>
      )}
      <main className="main">{children}</main>
      <RoomSwitcher />
    </div>
  );
}
