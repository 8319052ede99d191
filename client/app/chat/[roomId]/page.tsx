import type { Metadata } from 'next';
import { RoomScreen } from '../../../components/RoomScreen';
import { RequireUser, Shell } from '../../../components/Shell';

export const metadata: Metadata = { title: 'Room · Confab' };

// `/chat/_` is prerendered as the offline shell for every room (see app/sw.ts);
// the room id itself is read from the address bar on the client.
export function generateStaticParams() {
  return [{ roomId: '_' }];
}

export default function RoomPage() {
  return (
    <RequireUser>
      <Shell>
        <RoomScreen />
      </Shell>
    </RequireUser>
  );
}
