import * as decoding from 'lib0/decoding';

/**
 * Reads just enough of an outgoing Hocuspocus message to tell whether it
 * carries document changes: a Sync message (type 0) whose sub-message is a
 * SyncStep2 (1) or an Update (2) with a non-empty Yjs update. The sync layer
 * uses it to know which document sent something the server could refuse.
 */
const MESSAGE_SYNC = 0;
const SYNC_STEP_2 = 1;
const SYNC_UPDATE = 2;
/** A Yjs update with no structs and no deletes is these two zero bytes. */
const EMPTY_UPDATE_BYTES = 2;

/** The document an outgoing message carries changes of, or null when it carries none. */
export function documentWithChanges(message: Uint8Array): string | null {
  try {
    const decoder = decoding.createDecoder(message);
    const documentName = decoding.readVarString(decoder);
    if (decoding.readVarUint(decoder) !== MESSAGE_SYNC) return null;
    const step = decoding.readVarUint(decoder);
    if (step !== SYNC_STEP_2 && step !== SYNC_UPDATE) return null;
    return decoding.readVarUint8Array(decoder).length > EMPTY_UPDATE_BYTES ? documentName : null;
  } catch {
    // Not a message we understand (a ping, say): it carries nothing we track.
    return null;
  }
}
