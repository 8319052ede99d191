export { filterAwarenessState, MAX_DISPLAY_NAME_CHARS } from './awareness';
export {
  DEFAULT_DECODE_LIMITS,
  type DecodedUpdate,
  type DecodeLimits,
  type DecodeResult,
  decodeUpdateBounded,
} from './decode';
export {
  checkUserDocumentUpdate,
  DEFAULT_MAX_UPDATE_BYTES,
  emptyChanges,
  type GuardVerdict,
  type RoomChanges,
  RoomGuard,
  type RoomGuardOptions,
} from './room-guard';
export type { GuardContext, GuardRule, Refusal, Role } from './rules';
