export {
  type BusEvent,
  DEAD_LETTER_PREFIX,
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
