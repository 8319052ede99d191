/** Only same-site paths are followed after sign-in (no open redirect through `?next=`). */
export function safeNext(raw: string | null): string {
  if (!raw?.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return '/chat';
  return raw;
}
