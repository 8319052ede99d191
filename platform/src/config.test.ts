import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, parseEnv } from './config';

const schema = z.object({
  PORT: z.coerce.number({ message: 'must be a number' }).int().default(4000),
  API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
});

describe('parseEnv', () => {
  it('applies defaults and treats empty strings as unset', () => {
    expect(parseEnv(schema, { PORT: '' })).toEqual({ PORT: 4000 });
    expect(parseEnv(schema, { PORT: '81' }).PORT).toBe(81);
  });

  it('throws one line naming the variable, the problem and the value', () => {
    expect(() => parseEnv(schema, { PORT: 'eighty' })).toThrow(
      new ConfigError('PORT', 'must be a number (got "eighty")'),
    );
  });

  it('never echoes the value of a secret', () => {
    try {
      parseEnv(schema, { API_TOKEN: 'short-secret' });
      expect.unreachable();
    } catch (error) {
      expect(String((error as Error).message)).toBe('API_TOKEN: must be at least 16 characters');
    }
  });
});
