import type { Metadata } from 'next';
import { ResetPassword } from '../../components/ResetPassword';

export const metadata: Metadata = { title: 'Set a new password · Confab' };

export default function ResetPasswordPage() {
  return <ResetPassword />;
}
