import type { Metadata, Viewport } from 'next';
import { headers } from 'next/headers';
import type { ReactNode } from 'react';
import { AppProvider } from '../components/AppProvider';
import { PwaProvider } from '../components/Pwa';
import './globals.css';

export const metadata: Metadata = {
  title: 'Confab',
  description: 'Local-first chat you can self-host.',
  applicationName: 'Confab',
  appleWebApp: { capable: true, title: 'Confab', statusBarStyle: 'default' },
  icons: { icon: '/icons/icon-192.png', apple: '/icons/icon-192.png' },
};

export const viewport: Viewport = {
  width: 'device-width',
  initialScale: 1,
  themeColor: [
    { media: '(prefers-color-scheme: light)', color: '#1f5fd1' },
    { media: '(prefers-color-scheme: dark)', color: '#0f1419' },
  ],
};

// Applies the saved theme before first paint (no flash). Static text, no user data.
const THEME_SCRIPT = `try{var t=localStorage.getItem('confab:theme');if(t==='light'||t==='dark')document.documentElement.dataset.theme=t}catch(e){}`;

export default async function RootLayout({ children }: { children: ReactNode }) {
  // Set by proxy.ts for this response; reading it renders every page per request (a nonce must never repeat).
  const nonce = (await headers()).get('x-nonce') ?? undefined;
  return (
    <html lang="en" suppressHydrationWarning>
      <head>
        {/* biome-ignore lint/security/noDangerouslySetInnerHtml: a constant script, never user content */}
        <script nonce={nonce} dangerouslySetInnerHTML={{ __html: THEME_SCRIPT }} />
      </head>
      <body>
        <PwaProvider>
          <AppProvider>{children}</AppProvider>
        </PwaProvider>
      </body>
    </html>
  );
}
