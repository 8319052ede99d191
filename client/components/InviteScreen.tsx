'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import { describeFailure } from '../lib/api';
import { useApp } from './AppProvider';
import { usePathSegment } from './hooks';

/** Accepts an invite: signed-out visitors go to /login first and come back here. */
export function InviteScreen() {
  const code = usePathSegment(2);
  const { ready, user, api, rememberRoom } = useApp();
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);

  // biome-ignore lint/correctness/useExhaustiveDependencies: accept once per code and user
  useEffect(() => {
    if (!ready || !code || code === '_') return;
    if (!user) {
      router.replace(`/login?next=${encodeURIComponent(`/invite/${code}`)}`);
      return;
    }
    let cancelled = false;
    void api.acceptInvite(code).then((result) => {
      if (cancelled) return;
      if (!result.ok) {
        setError(
          result.code === 'invite_expired'
            ? 'This invite link has expired. Ask for a new one.'
            : result.code === 'invite_exhausted'
              ? 'This invite link has been used up. Ask for a new one.'
              : result.status === 404
                ? 'This invite link is not valid.'
                : describeFailure(result),
        );
        return;
      }
      rememberRoom(result.data.room);
      router.replace(`/chat/${encodeURIComponent(result.data.room.id)}`);
    });
    return () => {
      cancelled = true;
    };
  }, [ready, user?.id, code]);

  return (
    <main className="auth-card">
      <h1>Joining room</h1>
      {error ? (
        <>
          <p className="error" role="alert">
            {error}
          </p>
          <Link href="/chat">Go to your rooms</Link>
        </>
      ) : (
        <p role="status">Accepting the invite…</p>
      )}
    </main>
  );
}
