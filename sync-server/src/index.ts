export { loadSyncConfig, requireStandalone, type SyncConfig, SyncConfigError, syncConfigSchema } from './config';
export { createConfabGuard } from './extensions/confab-guard';
export type { GuardVerdict, RoomChanges, UpdateGuard } from './extensions/guard-port';
export { type StartSyncServerOptions, type SyncServerHandle, startSyncServer } from './server';
export type { SyncStore } from './storage/sync-store';
export { MAX_MESSAGE_BYTES } from './upgrade';
