export { createInProcessBus, type InProcessBus, type InProcessBusOptions } from './bus/inprocess';
export { createNatsBus, type NatsBus, type NatsBusOptions } from './bus/nats';
export {
  type BusEvent,
  DEAD_LETTER_PREFIX,
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_MAX_DELIVER,
  DEFAULT_RETRY_BACKOFF_MS,
  type DeadLetter,
  type Delivery,
  deadLetterSubject,
  type EventBus,
  type SubscribeOptions,
  type Subscription,
  subjectMatches,
} from './bus/port';
export {
  blobType,
  type Database,
  type DatabaseKind,
  migrate,
  type OpenDatabaseOptions,
  openDatabase,
} from './db/database';
export type { Directory, DirectoryMember, DirectoryUser, ServiceHandle, SessionInfo, SessionVerifier } from './ports';
