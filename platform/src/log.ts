import pino from 'pino';

/**
 * Paths pino blanks out in every log line. Tokens, cookies and passwords
 * never reach the logs, whatever object a caller hands the logger.
 */
export const REDACT_PATHS: readonly string[] = [
  'authorization',
  'cookie',
  'password',
  'token',
  'secret',
  '*.authorization',
  '*.cookie',
  '*.password',
  '*.token',
  '*.secret',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
];

export interface CreateLoggerOptions {
  name: string;
  level?: pino.LevelWithSilentOrString;
  /** Where lines go; stdout by default. Tests pass a stream to read them back. */
  destination?: pino.DestinationStream;
}

export function createLogger({ name, level = 'info', destination }: CreateLoggerOptions): pino.Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

export type Logger = pino.Logger;
