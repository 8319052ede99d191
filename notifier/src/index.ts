export { ConfigError, loadNotifierConfig, type NotifierConfig, notifierConfigSchema } from './config';
export { type Decision, decideForMessage, kindFor, levelAllows, type NotificationKind } from './domain/decide';
export {
  DEFAULT_PREFERENCES,
  type Level,
  type Preferences,
  type QuietHours,
} from './domain/preferences';
export { isQuiet, quietEndsAt } from './domain/quiet-hours';
export { CONSUMER_NAME, MAX_DELIVER, type NotifierHandle, type StartNotifierOptions, startNotifier } from './service';
