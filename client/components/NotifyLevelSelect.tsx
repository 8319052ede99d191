'use client';

import type { NotificationPreferences, NotifyLevel, PreferencesPatch } from '../lib/api';

/** A room's notification level: its own, or `default` (the account's). */
export type RoomNotifyChoice = NotifyLevel | 'default';

/** The level `prefs` sets for the room, or `default` when it follows the account's. */
export function roomNotifyChoice(prefs: NotificationPreferences, roomId: string): RoomNotifyChoice {
  return prefs.rooms[roomId] ?? 'default';
}

/**
 * The change of preferences that gives one room a level: the notifier merges `rooms` room by room,
 * so only this one is sent (another device's change to another room stays), and null takes the
 * room's entry out so that it follows the default again.
 */
export function roomNotifyPatch(roomId: string, choice: RoomNotifyChoice): PreferencesPatch {
  return { rooms: { [roomId]: choice === 'default' ? null : choice } };
}

/** The choice of what to be notified about: the account's default, or one room's (with "Same as default"). */
export function NotifyLevelSelect({
  id,
  value,
  withDefault,
  onChange,
}: {
  id: string;
  value: RoomNotifyChoice;
  withDefault: boolean;
  onChange(choice: RoomNotifyChoice): void;
}) {
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.target.value as RoomNotifyChoice)}>
      {withDefault && <option value="default">Same as default</option>}
      <option value="all">All messages</option>
      <option value="mentions">Mentions and replies only</option>
      <option value="none">Nothing</option>
    </select>
  );
}
