import { z } from 'zod';

/** Emails are trimmed and lowercased before anything else sees them, so one inbox is one account. */
export const emailField = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .pipe(z.email({ message: 'not a valid email address' }));

/** 10 to 256 characters: long enough to resist guessing, short enough that Argon2 cannot be abused. */
export const passwordField = z
  .string()
  .min(10, 'must be at least 10 characters')
  .max(256, 'must be at most 256 characters');

export const displayNameField = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .refine((s) => !/\p{Cc}/u.test(s), 'must not contain control characters');
