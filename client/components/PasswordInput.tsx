import { MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS } from '../lib/api';

/**
 * A labelled password field. `fresh` makes it a new password: the server's length rule is checked
 * by the browser first, and `hint` (under it, after the rule) says what setting it does.
 */
export function PasswordInput({
  id,
  label,
  fresh = false,
  hint,
}: {
  id: string;
  label: string;
  fresh?: boolean;
  hint?: string;
}) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        name={id}
        type="password"
        autoComplete={fresh ? 'new-password' : 'current-password'}
        required
        minLength={fresh ? MIN_PASSWORD_CHARS : undefined}
        maxLength={MAX_PASSWORD_CHARS}
        aria-describedby={fresh ? `${id}-hint` : undefined}
      />
      {fresh && (
        <p id={`${id}-hint`} className="muted">
          At least {MIN_PASSWORD_CHARS} characters.{hint ? ` ${hint}` : ''}
        </p>
      )}
    </>
  );
}

/** The error line and the submit button at the end of a sign-in page's form. */
export function SubmitWithError({ error, busy, label }: { error: string | null; busy: boolean; label: string }) {
  return (
    <>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Please wait…' : label}
      </button>
    </>
  );
}
