'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { type FormEvent, useEffect, useState } from 'react';
import { describeFailure } from '../lib/api';
import { safeNext } from '../lib/navigation';
import { useApp } from './AppProvider';
import { PasswordInput, SubmitWithError } from './PasswordInput';

export function AuthForm({ mode }: { mode: 'login' | 'register' }) {
  const { api, signIn, user, ready, signedOutReason } = useApp();
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [next, setNext] = useState('/chat');

  useEffect(() => {
    setNext(safeNext(new URLSearchParams(window.location.search).get('next'), window.location.origin));
  }, []);
  useEffect(() => {
    if (ready && user) router.replace(next);
  }, [ready, user, next, router]);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const email = String(form.get('email') ?? '').trim();
    const password = String(form.get('password') ?? '');
    setBusy(true);
    setError(null);
    const result =
      mode === 'login'
        ? await api.login({ email, password })
        : await api.register({ email, password, displayName: String(form.get('displayName') ?? '').trim() });
    setBusy(false);
    if (!result.ok) {
      setError(describeFailure(result));
      return;
    }
    signIn(result.data.user);
    router.replace(next);
  }

  const title = mode === 'login' ? 'Sign in' : 'Create your account';
  const otherHref = `${mode === 'login' ? '/register' : '/login'}${next !== '/chat' ? `?next=${encodeURIComponent(next)}` : ''}`;
  return (
    <main className="auth-card">
      <h1>{title}</h1>
      {signedOutReason && (
        <p className="notice" role="status">
          {signedOutReason}
        </p>
      )}
      <form onSubmit={submit} noValidate={false}>
        {mode === 'register' && (
          <>
            <label htmlFor="displayName">Display name</label>
            <input id="displayName" name="displayName" autoComplete="nickname" required maxLength={80} />
          </>
        )}
        <label htmlFor="email">Email</label>
        <input id="email" name="email" type="email" autoComplete="email" required />
        <PasswordInput id="password" label="Password" fresh={mode === 'register'} />
        {mode === 'login' && (
          <p className="forgot">
            <Link href="/reset-password">Forgot your password?</Link>
          </p>
        )}
        <SubmitWithError error={error} busy={busy} label={title} />
      </form>
      <p>
        {mode === 'login' ? 'New here? ' : 'Already have an account? '}
        <Link href={otherHref}>{mode === 'login' ? 'Create an account' : 'Sign in'}</Link>
      </p>
    </main>
  );
}
