'use client';

import { SerwistProvider, useSerwist } from '@serwist/turbopack/react';
import { type ReactNode, useEffect, useState } from 'react';

/**
 * Service worker registration (Serwist), the install prompt and the update
 * flow. The worker is built from app/sw.ts and served at /serwist/sw.js with
 * `Service-Worker-Allowed: /`, so it controls the whole origin.
 */
export function PwaProvider({ children }: { children: ReactNode }) {
  return (
    <SerwistProvider
      swUrl="/serwist/sw.js"
      disable={process.env.NODE_ENV === 'development'}
      // Reloading on reconnect would throw away what the user is typing; the sync layer reconnects by itself.
      reloadOnOnline={false}
      options={{ scope: '/' }}
    >
      {children}
    </SerwistProvider>
  );
}

interface BeforeInstallPromptEvent extends Event {
  prompt(): Promise<void>;
  userChoice: Promise<{ outcome: 'accepted' | 'dismissed' }>;
}

export function PwaControls() {
  const { serwist } = useSerwist();
  const [updateReady, setUpdateReady] = useState(false);
  const [installEvent, setInstallEvent] = useState<BeforeInstallPromptEvent | null>(null);

  useEffect(() => {
    if (!serwist) return;
    const onWaiting = () => setUpdateReady(true);
    serwist.addEventListener('waiting', onWaiting);
    return () => serwist.removeEventListener('waiting', onWaiting);
  }, [serwist]);

  useEffect(() => {
    const onPrompt = (event: Event) => {
      event.preventDefault();
      setInstallEvent(event as BeforeInstallPromptEvent);
    };
    const onInstalled = () => setInstallEvent(null);
    window.addEventListener('beforeinstallprompt', onPrompt);
    window.addEventListener('appinstalled', onInstalled);
    return () => {
      window.removeEventListener('beforeinstallprompt', onPrompt);
      window.removeEventListener('appinstalled', onInstalled);
    };
  }, []);

  const applyUpdate = () => {
    if (!serwist) return;
    serwist.addEventListener('controlling', () => window.location.reload());
    serwist.messageSkipWaiting();
  };

  return (
    <>
      {updateReady && (
        <div className="banner" role="status">
          <span>A new version of Confab is ready.</span>
          <button type="button" className="primary" onClick={applyUpdate}>
            Reload to update
          </button>
        </div>
      )}
      {installEvent && (
        <button
          type="button"
          onClick={async () => {
            await installEvent.prompt();
            await installEvent.userChoice;
            setInstallEvent(null);
          }}
        >
          Install app
        </button>
      )}
    </>
  );
}
