'use client';

import { useRouter } from 'next/navigation';
import { type FormEvent, useEffect, useState } from 'react';
import { type Api, describeFailure, type Member, type NotificationPreferences, type Role, type Room } from '../lib/api';
import { NotifyLevelSelect, type RoomNotifyChoice, roomNotifyChoice, roomNotifyPatch } from './NotifyLevelSelect';

interface Props {
  api: Api;
  room: Room;
  selfId: string;
  members: Member[];
  online: ReadonlySet<string>;
  onRoomChanged(room: Room): void;
  onMembersChanged(): void;
  onLeft(): void;
  onClose(): void;
}

const EXPIRY_CHOICES: { label: string; seconds: number | null }[] = [
  { label: '1 hour', seconds: 3600 },
  { label: '1 day', seconds: 86_400 },
  { label: '7 days', seconds: 604_800 },
  { label: 'Never', seconds: null },
];

export function RoomSettings({
  api,
  room,
  selfId,
  members,
  online,
  onRoomChanged,
  onMembersChanged,
  onLeft,
  onClose,
}: Props) {
  const owner = room.role === 'owner';
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [invite, setInvite] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  // The account's notification preferences, for this room's level: null while loading, 'offline' without the notifier.
  const [prefs, setPrefs] = useState<NotificationPreferences | null | 'offline'>(null);
  const [notifySaved, setNotifySaved] = useState(false);

  useEffect(() => {
    let live = true;
    void api.preferences().then((result) => {
      if (live) setPrefs(result.ok ? result.data : 'offline');
    });
    return () => {
      live = false;
    };
  }, [api]);

  async function setNotify(choice: RoomNotifyChoice) {
    const result = await api.updatePreferences(roomNotifyPatch(room.id, choice));
    if (!result.ok) return setError(describeFailure(result));
    setError(null);
    setPrefs(result.data);
    setNotifySaved(true);
  }

  async function save(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const result = await api.updateRoom(room.id, {
      name: String(form.get('name') ?? '').trim(),
      topic: String(form.get('topic') ?? '').trim(),
    });
    if (!result.ok) return setError(describeFailure(result));
    setError(null);
    setSaved(true);
    onRoomChanged({ ...result.data.room, role: room.role });
  }

  async function createInvite(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const seconds = EXPIRY_CHOICES[Number(form.get('expiry'))]?.seconds ?? null;
    const maxUses = Number(form.get('maxUses'));
    const result = await api.createInvite(room.id, {
      role: form.get('role') === 'reader' ? 'reader' : 'member',
      ...(seconds ? { expiresInSeconds: seconds } : {}),
      ...(maxUses > 0 ? { maxUses } : {}),
    });
    if (!result.ok) return setError(describeFailure(result));
    setError(null);
    // Link to this origin: the app may be opened under another name than PUBLIC_URL in development.
    setInvite(`${window.location.origin}/invite/${encodeURIComponent(result.data.code)}`);
  }

  async function setRole(member: Member, role: Role) {
    const result = await api.setMemberRole(room.id, member.userId, role);
    if (!result.ok) return setError(describeFailure(result));
    onMembersChanged();
  }

  async function remove(member: Member) {
    if (!window.confirm(`Remove ${member.displayName} from ${room.name}?`)) return;
    const result = await api.removeMember(room.id, member.userId);
    if (!result.ok) return setError(describeFailure(result));
    onMembersChanged();
  }

  async function deleteRoom() {
    if (!window.confirm(`Delete ${room.name} for everyone? Its messages are gone for good.`)) return;
    const result = await api.deleteRoom(room.id);
    if (!result.ok) return setError(describeFailure(result));
    onLeft();
    router.push('/chat');
  }

  async function leave() {
    if (!window.confirm(`Leave ${room.name}?`)) return;
    const result = await api.removeMember(room.id, selfId);
    if (!result.ok) return setError(describeFailure(result));
    onLeft();
    router.push('/chat');
  }

  return (
    <aside className="side" aria-label="Room details">
      <div className="row" style={{ alignItems: 'center' }}>
        <h2 style={{ margin: 0 }}>Room details</h2>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {owner && (
        <form onSubmit={save}>
          <label htmlFor="settings-name">Room name</label>
          <input id="settings-name" name="name" defaultValue={room.name} required maxLength={100} />
          <label htmlFor="settings-topic">Topic</label>
          <input id="settings-topic" name="topic" defaultValue={room.topic ?? ''} maxLength={300} />
          <p>
            <button type="submit">Save</button> {saved && <span role="status">Saved.</span>}
          </p>
        </form>
      )}
      {owner && (
        <form onSubmit={createInvite}>
          <h3>Invite link</h3>
          <label htmlFor="invite-role">Joins as</label>
          <select id="invite-role" name="role" defaultValue="member">
            <option value="member">Member (reads and writes)</option>
            <option value="reader">Reader (reads only)</option>
          </select>
          <label htmlFor="invite-expiry">Expires after</label>
          <select id="invite-expiry" name="expiry" defaultValue="2">
            {EXPIRY_CHOICES.map((c, i) => (
              <option key={c.label} value={i}>
                {c.label}
              </option>
            ))}
          </select>
          <label htmlFor="invite-uses">Maximum uses (0 = unlimited)</label>
          <input id="invite-uses" name="maxUses" type="number" min={0} max={1000} defaultValue={0} />
          <p>
            <button type="submit" className="primary">
              Create invite link
            </button>
          </p>
          {invite && (
            <>
              <label htmlFor="invite-url">Invite link</label>
              <input id="invite-url" readOnly value={invite} onFocus={(e) => e.currentTarget.select()} />
              <button type="button" onClick={() => void navigator.clipboard?.writeText(invite)}>
                Copy link
              </button>
            </>
          )}
        </form>
      )}
      <h3>Members ({members.length})</h3>
      <ul className="members">
        {members.map((m) => (
          <li key={m.userId}>
            <span className={`dot${online.has(m.userId) ? ' on' : ''}`} aria-hidden="true" />
            <span>
              {m.displayName}
              {m.userId === selfId ? ' (you)' : ''}
            </span>
            <span className="sr-only">{online.has(m.userId) ? 'online' : 'offline'}</span>
            {owner && m.userId !== selfId ? (
              <>
                <label className="sr-only" htmlFor={`role-${m.userId}`}>
                  Role of {m.displayName}
                </label>
                <select
                  id={`role-${m.userId}`}
                  value={m.role}
                  style={{ width: 'auto' }}
                  onChange={(e) => void setRole(m, e.target.value as Role)}
                >
                  <option value="owner">owner</option>
                  <option value="member">member</option>
                  <option value="reader">reader</option>
                </select>
                <button
                  type="button"
                  className="link danger"
                  aria-label={`Remove ${m.displayName}`}
                  onClick={() => void remove(m)}
                >
                  Remove
                </button>
              </>
            ) : (
              <span className="muted">{m.role}</span>
            )}
          </li>
        ))}
      </ul>
      <h3>Notifications</h3>
      {prefs === null ? (
        <p className="muted">Loading…</p>
      ) : prefs === 'offline' ? (
        <p className="muted">Available when online.</p>
      ) : (
        <>
          <label htmlFor="room-notify">Notify me about this room</label>
          <NotifyLevelSelect
            id="room-notify"
            value={roomNotifyChoice(prefs, room.id)}
            withDefault
            onChange={(choice) => void setNotify(choice)}
          />
          {notifySaved && <span role="status">Saved.</span>}
        </>
      )}
      <p>
        <button type="button" className="danger" onClick={() => void leave()}>
          Leave room
        </button>
      </p>
      {owner && (
        <p>
          <button type="button" className="danger" onClick={() => void deleteRoom()}>
            Delete room for everyone
          </button>
        </p>
      )}
    </aside>
  );
}
