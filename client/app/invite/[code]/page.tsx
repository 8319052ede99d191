import type { Metadata } from 'next';
import { InviteScreen } from '../../../components/InviteScreen';

export const metadata: Metadata = { title: 'Join a room · Confab' };

// `/invite/_` is the offline shell for every invite link (see app/sw.ts).
export function generateStaticParams() {
  return [{ code: '_' }];
}

export default function InvitePage() {
  return <InviteScreen />;
}
