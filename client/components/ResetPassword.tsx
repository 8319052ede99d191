'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { type FormEvent, useEffect, useState } from 'react';
import { describeFailure } from '../lib/api';
import { useApp } from './AppProvider';
import { PasswordInput, SubmitWithError } from './PasswordInput';

/**
 * A forgotten password. Without a token: asks for the account's email and says a link was sent
 * (the server answers alike whether the address has an account). With the token of the emailed
 * link: asks for the new password, which signs this browser in and every other device out.
 */
export function ResetPassword() {
  const { api, signIn } = useApp();
  const router = useRouter();
  // undefined until the address has been read (the server renders the page without it).
  const [token, setToken] = useState<string | null | undefined>(undefined);
  const [sentTo, setSentTo] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [linkDead, setLinkDead] = useState(false);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const fromLink = new URLSearchParams(window.location.search).get('token');
    setToken(fromLink);
    // Out of the address bar and the history: the token is as good as the password until it is used.
    if (fromLink) window.history.replaceState(null, '', '/reset-password');
  }, []);

  async function requestLink(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const email = String(new FormData(event.currentTarget).get('email') ?? '').trim();
    setBusy(true);
    setError(null);
    const result = await api.requestPasswordReset({ email });
    setBusy(false);
    if (!result.ok) return setError(describeFailure(result));
    setSentTo(email);
  }

  async function setPassword(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!token) return;
    const newPassword = String(new FormData(event.currentTarget).get('newPassword') ?? '');
    setBusy(true);
    setError(null);
    const result = await api.confirmPasswordReset({ token, newPassword });
    setBusy(false);
    if (!result.ok) {
      if (result.field === 'token') return setLinkDead(true);
      return setError(describeFailure(result));
    }
    signIn(result.data.user);
    router.replace('/chat');
  }

  if (token === undefined) return <main className="auth-card" />;
  return (
    <main className="auth-card">
      <h1>{token ? 'Choose a new password' : 'Forgot your password?'}</h1>
      {linkDead ? (
        <>
          <p className="error" role="alert">
            This link does not work any more: it was used already, or it expired (links work for 30 minutes).
          </p>
          <p>
            <a
              href="/reset-password"
              onClick={(e) => {
                e.preventDefault();
                setLinkDead(false);
                setToken(null);
              }}
            >
              Ask for a new link
            </a>
          </p>
        </>
      ) : token ? (
        <form onSubmit={setPassword}>
          <PasswordInput
            id="newPassword"
            label="New password"
            fresh
            hint="Every device signed in to your account is signed out."
          />
          <SubmitWithError error={error} busy={busy} label="Set the new password" />
        </form>
      ) : sentTo ? (
        <p className="notice" role="status">
          If {sentTo} belongs to an account, we have sent it a link to choose a new password. The link works for 30
          minutes.
        </p>
      ) : (
        <form onSubmit={requestLink}>
          <p className="muted">We will email you a link to choose a new one.</p>
          <label htmlFor="email">Email</label>
          <input id="email" name="email" type="email" autoComplete="email" required />
          <SubmitWithError error={error} busy={busy} label="Email me a link" />
        </form>
      )}
      <p>
        <Link href="/login">Back to sign in</Link>
      </p>
    </main>
  );
}
