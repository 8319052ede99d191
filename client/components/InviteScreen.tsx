'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { type FormEvent, useEffect, useState } from 'react';
import { describeFailure, type InvitePreview } from '../lib/api';
import { noteJustJoined } from '../lib/navigation';
import { useApp } from './AppProvider';
import { usePathSegment } from './hooks';

/** How long the invite waits for its lookup before it shows the form with the generic text. */
const PREVIEW_WAIT_MS = 3000;

/**
 * An invite link asks before it joins: opening a link (from a chat, an email,
 * an image another site loads) must not make anyone a member of a room they
 * did not choose. Signed-out visitors go to /login first and come back here.
 */
export function InviteScreen() {
  const code = usePathSegment(2);
  const { ready, user, api, rememberRoom } = useApp();
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Null until the lookup answers, and for good when it fails (offline, old server): the generic text stays.
  const [preview, setPreview] = useState<InvitePreview | null>(null);
  // The form waits for the lookup (or PREVIEW_WAIT_MS): its answer makes the heading "Join <room> as
  // <role>", a line longer, and a heading that grows under a click moves the button away from it. Seen in
  // CI: the button went 44 px down as it was clicked, the click landed on the text, and nobody joined.
  const [lookupPending, setLookupPending] = useState(true);

  // biome-ignore lint/correctness/useExhaustiveDependencies: once per code and user
  useEffect(() => {
    if (!ready || !code || code === '_' || user) return;
    router.replace(`/login?next=${encodeURIComponent(`/invite/${code}`)}`);
  }, [ready, user?.id, code]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: once per code and user
  useEffect(() => {
    if (!ready || !code || code === '_' || !user) return;
    let current = true;
    setPreview(null);
    setLookupPending(true);
    const giveUp = setTimeout(() => setLookupPending(false), PREVIEW_WAIT_MS);
    void api.previewInvite(code).then((result) => {
      if (!current) return;
      if (result.ok) setPreview(result.data);
      setLookupPending(false);
    });
    return () => {
      current = false;
      clearTimeout(giveUp);
    };
  }, [ready, user?.id, code]);

  async function join(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!code || busy) return;
    setBusy(true);
    setError(null);
    const result = await api.acceptInvite(code);
    if (!result.ok) {
      setBusy(false);
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
    noteJustJoined(result.data.room.id);
    router.replace(`/chat/${encodeURIComponent(result.data.room.id)}`);
  }

  const waiting = !ready || !user || !code || code === '_' || lookupPending;
  return (
    <main className="auth-card">
      <h1>{preview && !waiting ? `Join ${preview.room.name} as ${preview.role}` : 'Join a room'}</h1>
      {waiting ? (
        <p role="status">Opening the invite…</p>
      ) : (
        <form onSubmit={join} aria-describedby="invite-explained">
          <p id="invite-explained">
            Someone sent you an invite link to a room. Joining makes you a member with the role the link grants (member,
            or reader: read only), and the room's members will see you. Join only if you know who sent it.
          </p>
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" disabled={busy} aria-busy={busy}>
            {busy ? 'Joining…' : 'Join room'}
          </button>
          <p>
            <Link href="/chat">Not now: go to your rooms</Link>
          </p>
        </form>
      )}
    </main>
  );
}
