import { z } from 'zod';

/**
 * A user's notification preferences (CONTRACT "Notifier API"). `default`
 * applies to every room without its own entry in `rooms`.
 */
export const LEVELS = ['all', 'mentions', 'none'] as const;
export type Level = (typeof LEVELS)[number];

export interface QuietHours {
  /** "HH:MM", 24-hour clock, in `timeZone`. */
  readonly start: string;
  readonly end: string;
  /** An IANA time zone such as "Europe/Berlin". */
  readonly timeZone: string;
}

export interface Preferences {
  readonly default: Level;
  readonly rooms: Readonly<Record<string, Level>>;
  readonly push: boolean;
  readonly email: boolean;
  readonly emailDelayMinutes: number;
  readonly quietHours: QuietHours | null;
}

export const DEFAULT_PREFERENCES: Preferences = {
  default: 'all',
  rooms: {},
  push: true,
  email: true,
  emailDelayMinutes: 10,
  quietHours: null,
};

/** Upper bound for the email delay: a week. Longer would make emails useless. */
export const MAX_EMAIL_DELAY_MINUTES = 7 * 24 * 60;
const MAX_ROOM_ENTRIES = 1000;

const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Zones already checked; building an Intl.DateTimeFormat per check was a tenth of the fan-out's CPU. */
const checkedTimeZones = new Map<string, boolean>();

export function isValidTimeZone(timeZone: string): boolean {
  const known = checkedTimeZones.get(timeZone);
  if (known !== undefined) return known;
  let valid: boolean;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    valid = true;
  } catch {
    valid = false;
  }
  // Bounded: anyone can send names to check, only so many are remembered.
  if (checkedTimeZones.size < 2000) checkedTimeZones.set(timeZone, valid);
  return valid;
}

const level = z.enum(LEVELS);

const quietHours = z.object({
  start: z.string().regex(TIME, 'must be HH:MM (00:00 to 23:59)'),
  end: z.string().regex(TIME, 'must be HH:MM (00:00 to 23:59)'),
  timeZone: z.string().refine(isValidTimeZone, 'must be an IANA time zone such as Europe/Berlin'),
});

/** A PUT body: any subset of the preferences. Unknown keys are refused so typos do not pass silently. */
const preferencesPatch = z
  .object({
    default: level,
    // null: the room's entry goes, and the room follows the default again.
    rooms: z
      .record(z.string(), level.nullable())
      .refine((rooms) => Object.keys(rooms).length <= MAX_ROOM_ENTRIES, `at most ${MAX_ROOM_ENTRIES} rooms`),
    push: z.boolean(),
    email: z.boolean(),
    emailDelayMinutes: z.number().int().min(0).max(MAX_EMAIL_DELAY_MINUTES),
    quietHours: quietHours.nullable(),
  })
  .partial()
  .strict();

export type PreferencesPatch = z.infer<typeof preferencesPatch>;

export type PatchResult = { ok: true; patch: PreferencesPatch } | { ok: false; field: string; message: string };

/** Validates the shape of a PUT body; the field is a dotted path such as `quietHours.timeZone`. */
export function parsePreferencesPatch(body: unknown): PatchResult {
  const result = preferencesPatch.safeParse(body);
  if (result.success) return { ok: true, patch: result.data };
  const issue = result.error.issues[0];
  const path = issue?.path.map(String) ?? [];
  if (issue?.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    return { ok: false, field: [...path, key].join('.'), message: `unknown field ${key}` };
  }
  return { ok: false, field: path.join('.') || 'body', message: issue?.message ?? 'invalid' };
}

/**
 * Room ids the patch gives a level that are not among the user's rooms. Removing an entry (null)
 * is allowed for any room: one the user has left may still have one.
 */
export function unknownRoomIds(patch: PreferencesPatch, memberOf: readonly string[]): string[] {
  const known = new Set(memberOf);
  return Object.entries(patch.rooms ?? {})
    .filter(([roomId, level]) => level !== null && !known.has(roomId))
    .map(([roomId]) => roomId);
}

/**
 * Applies a patch. `rooms` merges entry by entry (a client changing one room
 * does not have to resend the others, nor can it overwrite what another device
 * changed meanwhile); a room set to null loses its entry and follows the
 * default again.
 */
export function applyPatch(current: Preferences, patch: PreferencesPatch): Preferences {
  const rooms: Record<string, Level> = { ...current.rooms };
  for (const [roomId, level] of Object.entries(patch.rooms ?? {})) {
    if (level === null) delete rooms[roomId];
    else rooms[roomId] = level;
  }
  return { ...current, ...patch, rooms };
}

/** The level for a room: its own entry, else the default. */
export function levelFor(preferences: Preferences, roomId: string): Level {
  return preferences.rooms[roomId] ?? preferences.default;
}

/** Reads stored JSON, filling in fields added after it was written. */
export function preferencesFromJson(json: string | null | undefined): Preferences {
  if (!json) return DEFAULT_PREFERENCES;
  const parsed = parsePreferencesPatch(JSON.parse(json));
  return parsed.ok ? applyPatch(DEFAULT_PREFERENCES, parsed.patch) : DEFAULT_PREFERENCES;
}
