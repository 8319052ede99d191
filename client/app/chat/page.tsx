import type { Metadata } from 'next';
import { RoomList } from '../../components/RoomList';
import { RequireUser, Shell } from '../../components/Shell';

export const metadata: Metadata = { title: 'Chats · Confab' };

export default function ChatPage() {
  return (
    <RequireUser>
      <Shell>
        <RoomList />
      </Shell>
    </RequireUser>
  );
}
