import type { Metadata } from 'next';
import { Profile } from '../../components/Profile';
import { RequireUser, Shell } from '../../components/Shell';

export const metadata: Metadata = { title: 'Profile · Confab' };

export default function ProfilePage() {
  return (
    <RequireUser>
      <Shell>
        <Profile />
      </Shell>
    </RequireUser>
  );
}
