'use client';

import { type FormEvent, useCallback, useEffect, useState } from 'react';
import {
  describeFailure,
  type NotificationPreferences,
  type NotifyLevel,
  type PreferencesPatch,
  type SessionInfo,
} from '../lib/api';
import { deviceName } from '../lib/device-name';
import { useApp } from './AppProvider';
import { NotifyLevelSelect, roomNotifyChoice, roomNotifyPatch } from './NotifyLevelSelect';
import { PasswordInput } from './PasswordInput';
import { ThemeToggle } from './Shell';

function urlBase64ToBytes(base64: string): Uint8Array<ArrayBuffer> {
  const padded = (base64 + '='.repeat((4 - (base64.length % 4)) % 4)).replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(padded);
  const bytes = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

const when = (value: string | number) => new Date(value).toLocaleString();
/** A server message ("the current password is wrong") as a sentence. */
const sentence = (text: string) => `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;

export function Profile() {
  const { api, user, updateUser, signOut, rooms } = useApp();
  const [sessions, setSessions] = useState<SessionInfo[] | null>(null);
  const [prefs, setPrefs] = useState<NotificationPreferences | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pushState, setPushState] = useState<string>('');
  const [changingPassword, setChangingPassword] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [deleteNote, setDeleteNote] = useState<string | null>(null);
  // Said in the password card itself: the page's notice line is out of sight down there.
  const [passwordNote, setPasswordNote] = useState<{ ok: boolean; text: string } | null>(null);

  const load = useCallback(async () => {
    const [s, p] = await Promise.all([api.sessions(), api.preferences()]);
    if (s.ok) setSessions(s.data.sessions);
    else setError(describeFailure(s));
    if (p.ok) setPrefs(p.data);
  }, [api]);
  useEffect(() => {
    void load();
    if (typeof Notification !== 'undefined') setPushState(Notification.permission);
  }, [load]);

  async function saveName(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const displayName = String(new FormData(event.currentTarget).get('displayName') ?? '').trim();
    const result = await api.updateMe({ displayName });
    if (!result.ok) return setError(describeFailure(result));
    updateUser(result.data.user);
    setError(null);
    setMessage('Display name saved.');
  }

  async function changePassword(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    setChangingPassword(true);
    const result = await api.changePassword({
      currentPassword: String(form.get('currentPassword') ?? ''),
      newPassword: String(form.get('newPassword') ?? ''),
    });
    setChangingPassword(false);
    if (!result.ok) {
      // "newPassword: must be at least 10 characters" → "The new password must be at least 10 characters."
      const text =
        result.field === 'newPassword'
          ? sentence(`the new password ${result.message.replace(/^newPassword: /, '')}`)
          : result.code === 'invalid_field'
            ? sentence(result.message)
            : describeFailure(result);
      return setPasswordNote({ ok: false, text });
    }
    formElement.reset();
    const n = result.data.signedOutSessions;
    setPasswordNote({
      ok: true,
      text:
        n === 0
          ? 'Password changed.'
          : `Password changed. ${n === 1 ? 'Your other device was' : `Your ${n} other devices were`} signed out.`,
    });
    await load();
  }

  async function deleteAccount(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const password = String(new FormData(event.currentTarget).get('deletePassword') ?? '');
    if (!window.confirm('Delete your account for good? This cannot be undone.')) return;
    setDeleting(true);
    const result = await api.deleteAccount({ password });
    setDeleting(false);
    if (!result.ok) {
      const text =
        result.field === 'password'
          ? 'The password is wrong.'
          : result.code === 'conflict'
            ? sentence(result.message)
            : describeFailure(result);
      return setDeleteNote(text);
    }
    // The server has ended every session and cleared the cookie: this device forgets the account too.
    await signOut('Your account was deleted. Its data is gone from this device as well.', true);
  }

  /** Every session but this one, each revoked as the list's own buttons do. */
  async function revokeOthers() {
    const others = sessions?.filter((s) => !s.current) ?? [];
    if (others.length === 0) return;
    if (
      !window.confirm(`Sign out ${others.length === 1 ? 'your other device' : `your ${others.length} other devices`}?`)
    ) {
      return;
    }
    const results = await Promise.all(others.map((s) => api.revokeSession(s.id)));
    const failed = results.find((r) => !r.ok && r.status !== 404);
    if (failed && !failed.ok) setError(describeFailure(failed));
    else
      setMessage(
        others.length === 1
          ? 'Your other device was signed out.'
          : `Your ${others.length} other devices were signed out.`,
      );
    await load();
  }

  async function revoke(session: SessionInfo) {
    const result = await api.revokeSession(session.id);
    if (!result.ok) return setError(describeFailure(result));
    if (session.current) {
      // RequireUser takes the signed-out page to /login: a second navigation here would race it (offline,
      // both are full page loads and one aborts the other).
      await signOut('You signed out this device.', true);
      return;
    }
    setSessions((list) => list?.filter((s) => s.id !== session.id) ?? null);
  }

  async function savePrefs(next: PreferencesPatch) {
    const result = await api.updatePreferences(next);
    if (!result.ok) return setError(describeFailure(result));
    setPrefs(result.data);
    setError(null);
    setMessage('Notification preferences saved.');
  }

  async function enablePush() {
    if (!('serviceWorker' in navigator) || !('PushManager' in window)) {
      setPushState('unsupported');
      return;
    }
    const permission = await Notification.requestPermission();
    setPushState(permission);
    if (permission !== 'granted') return;
    const key = await api.vapidKey();
    if (!key.ok) return setError(describeFailure(key));
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: urlBase64ToBytes(key.data.key),
    });
    const saved = await api.subscribePush(subscription.toJSON());
    if (!saved.ok) return setError(describeFailure(saved));
    await savePrefs({ push: true });
  }

  async function disablePush() {
    const registration = await navigator.serviceWorker?.getRegistration();
    const subscription = await registration?.pushManager.getSubscription();
    if (subscription) {
      await api.unsubscribePush(subscription.endpoint);
      await subscription.unsubscribe();
    }
    await savePrefs({ push: false });
  }

  function saveQuietHours(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const enabled = form.get('quietEnabled') === 'on';
    void savePrefs({
      email: form.get('email') === 'on',
      emailDelayMinutes: Math.max(0, Number(form.get('emailDelayMinutes') ?? 0)),
      quietHours: enabled
        ? {
            start: String(form.get('quietStart') ?? '22:00'),
            end: String(form.get('quietEnd') ?? '07:00'),
            timeZone: String(form.get('timeZone') ?? 'UTC'),
          }
        : null,
    });
  }

  if (!user) return null;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return (
    <div className="page">
      <h1>Profile</h1>
      {message && (
        <p className="notice" role="status">
          {message}
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <section className="card">
        <h2>You</h2>
        <p className="muted">{user.email}</p>
        <form onSubmit={saveName} className="row">
          <div>
            <label htmlFor="displayName">Display name</label>
            <input id="displayName" name="displayName" defaultValue={user.displayName} required maxLength={80} />
          </div>
          <button type="submit">Save name</button>
        </form>
        <h3>Appearance</h3>
        <ThemeToggle />
      </section>

      <section className="card">
        <h2>Password</h2>
        <form onSubmit={changePassword}>
          <PasswordInput id="currentPassword" label="Current password" />
          <PasswordInput
            id="newPassword"
            label="New password"
            fresh
            hint="Your other devices are signed out; this one stays signed in."
          />
          <button type="submit" disabled={changingPassword}>
            {changingPassword ? 'Please wait…' : 'Change password'}
          </button>
          {passwordNote && (
            <p className={passwordNote.ok ? 'notice' : 'error'} role={passwordNote.ok ? 'status' : 'alert'}>
              {passwordNote.text}
            </p>
          )}
        </form>
      </section>

      <section className="card">
        <h2>Devices and sessions</h2>
        {sessions === null ? (
          <p className="muted">Available when online.</p>
        ) : (
          <ul className="sessions">
            {sessions.map((s) => (
              <li key={s.id}>
                <span title={s.userAgent ?? undefined}>
                  {deviceName(s.userAgent) ?? s.userAgent ?? 'Unknown device'}
                  {s.current && <strong> (this device)</strong>}
                  <br />
                  <span className="muted">
                    Signed in {when(s.createdAt)}, last seen {when(s.lastSeenAt)}
                  </span>
                </span>
                <button type="button" className="danger" onClick={() => void revoke(s)}>
                  {s.current ? 'Sign out this device' : 'Revoke'}
                </button>
              </li>
            ))}
          </ul>
        )}
        {sessions?.some((s) => !s.current) && (
          <button type="button" className="danger" onClick={() => void revokeOthers()}>
            Sign out all other devices
          </button>
        )}
      </section>

      <section className="card">
        <h2>Notifications</h2>
        {prefs === null ? (
          <p className="muted">Available when online.</p>
        ) : (
          <>
            <label htmlFor="notify-default">Notify me about</label>
            <NotifyLevelSelect
              id="notify-default"
              value={prefs.default}
              withDefault={false}
              onChange={(choice) => void savePrefs({ default: choice as NotifyLevel })}
            />
            {rooms.map((room) => (
              <div key={room.id}>
                <label htmlFor={`notify-${room.id}`}>In {room.name}</label>
                <NotifyLevelSelect
                  id={`notify-${room.id}`}
                  value={roomNotifyChoice(prefs, room.id)}
                  withDefault
                  onChange={(choice) => void savePrefs(roomNotifyPatch(room.id, choice))}
                />
              </div>
            ))}
            <h3>Push notifications</h3>
            <p className="muted">
              {pushState === 'denied'
                ? 'Notifications are blocked in this browser. Allow them in the site settings to enable push.'
                : pushState === 'unsupported'
                  ? 'This browser does not support push notifications.'
                  : prefs.push
                    ? 'Push notifications are on for this account.'
                    : 'Push notifications are off.'}
            </p>
            {prefs.push ? (
              <button type="button" onClick={() => void disablePush()}>
                Turn off push notifications
              </button>
            ) : (
              <button
                type="button"
                className="primary"
                onClick={() => void enablePush()}
                disabled={pushState === 'denied'}
              >
                Enable push notifications
              </button>
            )}
            <form onSubmit={saveQuietHours}>
              <h3>Email and quiet hours</h3>
              <div className="field-inline">
                <input id="email" name="email" type="checkbox" defaultChecked={prefs.email} />
                <label htmlFor="email">Email me about messages I have not read</label>
              </div>
              <label htmlFor="emailDelayMinutes">Email after (minutes unread)</label>
              <input
                id="emailDelayMinutes"
                name="emailDelayMinutes"
                type="number"
                min={0}
                max={1440}
                defaultValue={prefs.emailDelayMinutes}
              />
              <div className="field-inline" style={{ marginTop: 12 }}>
                <input
                  id="quietEnabled"
                  name="quietEnabled"
                  type="checkbox"
                  defaultChecked={prefs.quietHours !== null}
                />
                <label htmlFor="quietEnabled">Quiet hours (no push or email)</label>
              </div>
              <div className="row">
                <div>
                  <label htmlFor="quietStart">From</label>
                  <input
                    id="quietStart"
                    name="quietStart"
                    type="time"
                    defaultValue={prefs.quietHours?.start ?? '22:00'}
                  />
                </div>
                <div>
                  <label htmlFor="quietEnd">Until</label>
                  <input id="quietEnd" name="quietEnd" type="time" defaultValue={prefs.quietHours?.end ?? '07:00'} />
                </div>
                <div>
                  <label htmlFor="timeZone">Time zone</label>
                  <input id="timeZone" name="timeZone" defaultValue={prefs.quietHours?.timeZone ?? zone} />
                </div>
              </div>
              <p>
                <button type="submit">Save email and quiet hours</button>
              </p>
            </form>
          </>
        )}
      </section>

      <section className="card">
        <h2>Sign out</h2>
        <p className="muted">Signing out removes this account's messages and drafts from this device.</p>
        <button
          type="button"
          className="danger"
          // RequireUser takes the signed-out page to /login (one navigation, see revoke above).
          onClick={() => void signOut()}
        >
          Sign out
        </button>
      </section>
      <section className="card">
        <h2>Delete your account</h2>
        <p className="muted">
          Your sessions, notifications and drafts are deleted, and you leave every room; rooms where you are alone are
          deleted with the account. Your messages stay in the rooms you shared, without your name. If you are the only
          owner of a room with other members, make someone else an owner first.
        </p>
        <form onSubmit={deleteAccount}>
          <PasswordInput id="deletePassword" label="Password" />
          <button type="submit" className="danger" disabled={deleting}>
            {deleting ? 'Please wait…' : 'Delete my account'}
          </button>
          {deleteNote && (
            <p className="error" role="alert">
              {deleteNote}
            </p>
          )}
        </form>
      </section>
    </div>
  );
}
