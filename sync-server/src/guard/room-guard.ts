import { type ChatMessage, parseReactionKey, type RoomMaps, roomMaps } from '@confab/protocol';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';
import {
  DEFAULT_DECODE_LIMITS,
  type DecodedItem,
  type DecodedStruct,
  type DecodeLimits,
  type DeleteRange,
  decodeUpdateBounded,
  type StructId,
} from './decode';
import {
  type EditTarget,
  editDeleteRule,
  editValueRule,
  editWriteRule,
  type GuardContext,
  type GuardRule,
  messageDeleteRule,
  newMessageRule,
  type Refusal,
  reactionKeyRule,
  reactionValueRule,
  readKeyRule,
  readValueRule,
  writeAllowed,
} from './rules';

export interface RoomChanges {
  /** Appended messages, in order. */
  created: ChatMessage[];
  edited: { messageId: string; authorId: string; text: string; editedAt: number }[];
  deleted: { messageId: string; authorId: string; deletedBy: string }[];
  reads: { userId: string; messageId: string; at: number }[];
  reactions: { key: string; on: boolean }[];
}

export type GuardVerdict = { ok: true; changes: RoomChanges } | { ok: false; rule: GuardRule; detail: string };

export interface RoomGuardOptions {
  /** Updates above this are refused before decoding (the server also caps frames at 1 MiB). */
  maxUpdateBytes?: number;
  decodeLimits?: DecodeLimits;
  /**
   * Work budget of one check: structs and message elements visited to
   * resolve the delete set. Bounds a hostile update that deletes wide ranges.
   */
  maxSteps?: number;
  /**
   * New `messages` items per update that Yjs has to order against other items
   * (README "What applying costs"): an append behind items the sender had not
   * seen (a device back from offline) or several appends competing for one
   * place. Yjs walks the room for each, so this bounds what one accepted
   * update costs to apply. A device sends one per offline period.
   */
  maxContestedAppends?: number;
  /** The same for map entries (`edits`, `reactions`, `reads`); each walks the history of its key. */
  maxContestedEntries?: number;
  /** Deleted messages whose author the guard remembers (oldest forgotten first). */
  maxTombstones?: number;
}

export const DEFAULT_MAX_UPDATE_BYTES = 1024 * 1024;
const DEFAULT_MAX_STEPS = 100_000;
const DEFAULT_MAX_CONTESTED_APPENDS = 4;
const DEFAULT_MAX_CONTESTED_ENTRIES = 64;
const DEFAULT_MAX_TOMBSTONES = 10_000;

export function emptyChanges(): RoomChanges {
  return { created: [], edited: [], deleted: [], reads: [], reactions: [] };
}

type RootName = 'messages' | 'edits' | 'reactions' | 'reads';

/** Where a struct writes: a root of the schema and, for maps, the key. */
type Placement = { ok: true; root: RootName; key: string | null } | { ok: false; refusal: Refusal };

/** The part of an incoming item the document does not have yet (Yjs skips the part it has). */
interface NewItem extends DecodedItem {
  placement?: Placement;
  /** For the new part of a struct the document already partly holds: the struct as the update wrote it. */
  began?: DecodedItem;
}

/** A run of clocks of one client that an update brings: an item, or a skip (item null). */
interface NewRun {
  clock: number;
  end: number;
  item: NewItem | null;
}
type FindNew = (id: StructId) => { item: NewItem | null } | undefined;

class Refused extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.detail);
  }
}

const fail = (rule: GuardRule, detail: string): never => {
  throw new Refused({ rule, detail });
};
const failWith = (refusal: Refusal | null): void => {
  if (refusal) throw new Refused(refusal);
};

const idText = (id: StructId) => `${id.client}:${id.clock}`;

/** Delete ranges of one update, per client, sorted, for "is this id deleted by the update". */
class RangeIndex {
  private readonly byClient = new Map<number, { clock: number; end: number }[]>();

  add(client: number, clock: number, length: number): void {
    let list = this.byClient.get(client);
    if (!list) {
      list = [];
      this.byClient.set(client, list);
    }
    list.push({ clock, end: clock + length });
  }

  seal(): void {
    for (const list of this.byClient.values()) list.sort((a, b) => a.clock - b.clock);
  }

  has(client: number, clock: number): boolean {
    const list = this.byClient.get(client);
    return list !== undefined && runAt(list, clock) !== undefined;
  }
}

/** The run of a list sorted by clock, of disjoint [clock, end) runs, that covers `clock` (binary search). */
function runAt<Run extends { clock: number; end: number }>(list: readonly Run[], clock: number): Run | undefined {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const run = list[mid]!;
    if (clock < run.clock) hi = mid - 1;
    else if (clock >= run.end) lo = mid + 1;
    else return run;
  }
  return undefined;
}

/**
 * What applying an update will cost Yjs beyond O(update). Yjs places a new
 * item by walking right from its left origin over the items it must order
 * itself against (YATA conflict resolution, yjs Item.integrate), which is
 * nothing for an item whose origin is still followed by its right origin. It
 * walks when the origin has items after it the sender had not seen (an
 * append back from offline: up to the whole room) and when several new items
 * of the update share one insertion point (each walks past the others; tens
 * of thousands of them in one frame would take Yjs minutes). Counting both
 * kinds is O(1) per item; the guard caps the counts per update.
 */
class ContestCounter {
  appends = 0;
  entries = 0;
  /** Items Yjs may walk for the contested map entries: the key's history when far, plus earlier siblings. */
  entrySteps = 0;
  private readonly children = new Map<string, number>();

  /** `far`: the origin is an existing item that Yjs will walk from, over at most `farSteps` items. */
  place(item: NewItem, where: string, far: boolean, farSteps = 0): void {
    const point = item.origin === null ? `${where}|start` : `${item.origin.client}:${item.origin.clock}`;
    const siblings = (this.children.get(point) ?? 0) + 1;
    this.children.set(point, siblings);
    // The first child of a point costs nothing unless far; every further child walks past its siblings.
    if (!far && siblings === 1) return;
    if (where === 'messages') this.appends++;
    else {
      this.entries++;
      this.entrySteps += (far ? farSteps : 0) + siblings - 1;
    }
  }
}

/**
 * Checks incoming Yjs updates of one loaded `room:<id>` document against the
 * room schema v1 rules, before the server applies them.
 *
 * Indexes: the guard keeps message id → author itself (built once at load,
 * kept current by a doc `afterTransaction` listener, so it sees every applied
 * update whatever its origin: a client, Redis, another instance), and deleted
 * message id → author for messages deleted while it runs (tombstones). For
 * item ids it uses the document's own struct store (binary search by client
 * and clock) and each root map's `_map` (key → current item), which Yjs keeps
 * current and garbage-collects itself. An append is judged by its origins and
 * their immediate neighbours only, never by walking the array. So a check
 * costs O(update · log room), flat in room size.
 */
export class RoomGuard {
  private readonly doc: Y.Doc;
  private readonly maps: RoomMaps;
  private readonly authors = new Map<string, string>();
  /** Messages deleted since load: id → author (Map keeps insertion order, so the oldest go first). */
  private readonly tombstones = new Map<string, string>();
  /**
   * Ids of every message ever deleted from the room: from storage at load (the sync server keeps
   * them, `sync_retired_messages`: the document holds nothing of a deleted message once it is
   * compacted) and each deletion since. A new message may not take one (see `idTaken`).
   */
  private readonly retired: Set<string>;
  /**
   * The user behind each Yjs client id, from what its items say (a message's
   * author, the user of a reaction or read key, the author of an edited
   * message). Yjs identifies content by (client id, clock): another user
   * writing under someone's client id at their next clock would make Yjs drop
   * that user's next write as a duplicate, so such writes are refused.
   */
  private readonly clientOwners = new Map<number, string>();
  /**
   * Items ever integrated under each map key (`<root>/<key>`): an upper bound
   * of the history Yjs walks for an entry whose origin is not the key's
   * newest item (Yjs merges some of them, so the real list may be shorter).
   */
  private readonly keyHistory = new Map<string, number>();
  private readonly maxUpdateBytes: number;
  private readonly decodeLimits: DecodeLimits;
  private readonly maxSteps: number;
  private readonly maxContestedAppends: number;
  private readonly maxContestedEntries: number;
  private readonly maxTombstones: number;
  private readonly onAfterTransaction: (tr: Y.Transaction) => void;

  /**
   * Builds its indexes from the loaded document (O(room) once, at load).
   * `indexNow` is false only through `RoomGuard.stepwise`, which leaves the build to its caller.
   */
  constructor(doc: Y.Doc, options: RoomGuardOptions = {}, indexNow = true, retiredMessageIds: Iterable<string> = []) {
    this.doc = doc;
    this.retired = new Set(retiredMessageIds);
    this.maps = roomMaps(doc);
    this.maxUpdateBytes = options.maxUpdateBytes ?? DEFAULT_MAX_UPDATE_BYTES;
    this.decodeLimits = options.decodeLimits ?? DEFAULT_DECODE_LIMITS;
    this.maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
    this.maxContestedAppends = options.maxContestedAppends ?? DEFAULT_MAX_CONTESTED_APPENDS;
    this.maxContestedEntries = options.maxContestedEntries ?? DEFAULT_MAX_CONTESTED_ENTRIES;
    this.maxTombstones = options.maxTombstones ?? DEFAULT_MAX_TOMBSTONES;
    if (indexNow) for (const _ of this.indexing(Number.POSITIVE_INFINITY));
    this.onAfterTransaction = (tr) => this.track(tr);
    doc.on('afterTransaction', this.onAfterTransaction);
  }

  /**
   * A guard whose index its caller builds by running `steps`, each indexing
   * about `stepSize` entries, so the build for a large room (~40–90 ms at
   * 100k messages) can be spread over several event-loop turns (the sync
   * server does it while loading the room). Check nothing before every step
   * has run, and do not change the document meanwhile.
   */
  static stepwise(
    doc: Y.Doc,
    options: RoomGuardOptions = {},
    stepSize = 2000,
    retiredMessageIds: Iterable<string> = [],
  ): { guard: RoomGuard; steps: Iterable<void> } {
    const guard = new RoomGuard(doc, options, false, retiredMessageIds);
    return { guard, steps: guard.indexing(stepSize) };
  }

  /** The index build, pausing (`yield`) after about every `stepSize` entries. Walks the array's items as `toArray` does. */
  private *indexing(stepSize: number): Generator<void> {
    let done = 0;
    for (let n = (this.maps.messages as unknown as { _start: Y.Item | null })._start; n !== null; n = n.right) {
      if (!n.countable || n.deleted) continue;
      for (const message of n.content.getContent()) this.learn(message);
      done += n.length;
      if (done >= stepSize) {
        done = 0;
        yield;
      }
    }
    for (const root of ['edits', 'reactions', 'reads'] as const) {
      for (const [key, newest] of mapItems(this.maps[root])) {
        let length = 0;
        for (let n: Y.Item | null = newest; n !== null; n = n.left) length++;
        this.keyHistory.set(`${root}/${key}`, length);
        done += length;
        if (done >= stepSize) {
          done = 0;
          yield;
        }
      }
    }
    for (const [client, structs] of this.doc.store.clients) this.learnOwner(client, structs, 0);
  }

  destroy(): void {
    this.doc.off('afterTransaction', this.onAfterTransaction);
    this.authors.clear();
    this.tombstones.clear();
    this.retired.clear();
    this.keyHistory.clear();
    this.clientOwners.clear();
  }

  /** The author of a message in the room, from the index (for the server's events and for tests). */
  authorOf(messageId: string): string | undefined {
    return this.authors.get(messageId);
  }

  /** The author of a message deleted since the room was loaded (for tests and diagnostics). */
  deletedAuthorOf(messageId: string): string | undefined {
    return this.tombstones.get(messageId);
  }

  /** Number of messages indexed (live messages in the room). */
  get indexedMessages(): number {
    return this.authors.size;
  }

  /**
   * Checks one incoming update from this user against the document as it is
   * now. Never mutates the document and never throws.
   */
  check(update: Uint8Array, ctx: GuardContext): GuardVerdict {
    try {
      return { ok: true, changes: this.evaluate(update, ctx) };
    } catch (error) {
      if (error instanceof Refused) return { ok: false, ...error.refusal };
      // A bug in the guard must not let the update through, nor crash the connection handler.
      const detail = error instanceof Error ? error.message : String(error);
      return { ok: false, rule: 'malformed_update', detail: `unexpected: ${detail}` };
    }
  }

  /**
   * A client's catch-up (sync step 2) without other users' changes. A connection can hold changes
   * the server never stored: the server relays an update from memory before its commit, and when the
   * commit fails (or the server stops) the room unloads without it. Whoever reconnects first then
   * offers the server those changes in their sync: the structs of the author's Yjs client, and in the
   * delete set (which a sync always carries whole) the deletions they made, such as the old value a
   * new read marker replaced. They are not the sender's to send (the guard would refuse them as
   * another user's), and their authors' providers send them again.
   *
   * Left out: the structs of clients the server knows as another user's (it has stored their
   * earlier changes, or `lostOwners` names them: clients whose updates it failed to store), and deletions of other users' items that the sender may not make (a room
   * owner's deletion of someone's message stays). A client the server has never seen is the
   * sender's, as in `check`: a local copy holding a forged or corrupt change of a new client is
   * still refused, and the app offers to discard it, rather than kept forever on that device.
   * Everything else is kept as it came, so `check` still judges the sender's own changes. Returns the update itself when nothing is left
   * out, or when it cannot be decoded (`check` refuses it then). Never mutates the document and
   * never throws.
   */
  ownPart(update: Uint8Array, ctx: GuardContext, lostOwners?: ReadonlyMap<number, string>): Uint8Array {
    try {
      if (update.length > this.maxUpdateBytes) return update;
      const decoded = decodeUpdateBounded(update, this.decodeLimits);
      if (!decoded.ok) return update;
      const foreign = this.foreignClients(decoded.update.structs, ctx, lostOwners);
      const { kept, dropped } = this.allowedDeletes(decoded.update.deletes, ctx);
      if (foreign.length === 0 && !dropped) return update;
      // The structs as they came, with an empty delete set (one zero byte) for now.
      let structs: Uint8Array = new Uint8Array(decoded.update.deleteSetAt + 1);
      structs.set(update.subarray(0, decoded.update.deleteSetAt));
      if (foreign.length > 0) {
        // A state vector that claims every clock of those clients: the diff leaves all their structs out.
        const claimed = new Map(foreign.map((client) => [client, Number.MAX_SAFE_INTEGER]));
        structs = Y.diffUpdate(structs, Y.encodeStateVector(claimed));
      }
      const encoder = encoding.createEncoder();
      encoding.writeUint8Array(encoder, structs.subarray(0, structs.length - 1));
      writeDeleteSet(encoder, kept);
      return encoding.toUint8Array(encoder);
    } catch {
      return update;
    }
  }

  /** Clients with structs new to the document that the server knows as another user's (see ownPart). */
  private foreignClients(
    structs: readonly DecodedStruct[],
    ctx: GuardContext,
    lostOwners?: ReadonlyMap<number, string>,
  ): number[] {
    const store = this.doc.store;
    const foreign = new Set<number>();
    for (const s of structs) {
      if (s.kind === 'skip' || s.clock + s.length <= Y.getState(store, s.client)) continue;
      const owner = this.clientOwners.get(s.client) ?? lostOwners?.get(s.client);
      if (owner !== undefined && owner !== ctx.userId) foreign.add(s.client);
    }
    return [...foreign];
  }

  /**
   * The delete ranges without the parts that delete live items of another user's client which the
   * sender may not delete (see ownPart); `dropped` says whether any part went.
   */
  private allowedDeletes(
    deletes: readonly DeleteRange[],
    ctx: GuardContext,
  ): { kept: DeleteRange[]; dropped: boolean } {
    const store = this.doc.store;
    const kept: DeleteRange[] = [];
    let dropped = false;
    const step = stepCounter(this.maxSteps);
    for (const range of deletes) {
      const owner = this.clientOwners.get(range.client);
      const state = Y.getState(store, range.client);
      if (owner === undefined || owner === ctx.userId || range.clock >= state) {
        kept.push(range);
        continue;
      }
      const rangeEnd = range.clock + range.length;
      const structs = store.clients.get(range.client)!;
      let from = range.clock;
      for (let i = Y.findIndexSS(structs, range.clock); i < structs.length; i++) {
        const struct = structs[i]!;
        if (struct.id.clock >= rangeEnd) break;
        step();
        if (!(struct instanceof Y.Item) || struct.deleted) continue;
        const start = Math.max(range.clock, struct.id.clock);
        const end = Math.min(rangeEnd, struct.id.clock + struct.length);
        try {
          this.checkDelete(
            struct,
            start - struct.id.clock,
            end - struct.id.clock,
            ctx,
            emptyChanges(),
            new Set(),
            [],
            step,
          );
        } catch (error) {
          // Out of budget is not a verdict on this deletion: give up on trimming (ownPart keeps the update).
          if (!(error instanceof Refused) || error.refusal.rule === 'decode_budget') throw error;
          if (start > from) kept.push({ client: range.client, clock: from, length: start - from });
          from = end;
          dropped = true;
        }
      }
      if (rangeEnd > from) kept.push({ client: range.client, clock: from, length: rangeEnd - from });
    }
    return { kept, dropped };
  }

  private evaluate(update: Uint8Array, ctx: GuardContext): RoomChanges {
    if (update.length > this.maxUpdateBytes) fail('too_large', `update of ${update.length} bytes`);
    const decoded = decodeUpdateBounded(update, this.decodeLimits);
    if (!decoded.ok) {
      fail(decoded.failure.reason === 'budget' ? 'decode_budget' : 'malformed_update', decoded.failure.detail);
      throw new Error('unreachable');
    }
    const store = this.doc.store;
    const changes = emptyChanges();

    // 1. Keep only what the document does not have; refuse gaps (Yjs would hold them as pending).
    const newItems: NewItem[] = [];
    const newByClient = new Map<number, NewRun[]>();
    const knownAfter = new Map<number, number>();
    for (const s of decoded.update.structs) {
      const known = knownAfter.get(s.client) ?? Y.getState(store, s.client);
      if (s.clock > known) {
        fail('missing_dependencies', `struct ${idText(s)} depends on changes the server does not have`);
      }
      const end = s.clock + s.length;
      if (end <= known || s.kind === 'skip') continue;
      const offset = known - s.clock;
      let item: NewItem | null = null;
      if (s.kind === 'item') {
        item = offset === 0 ? { ...s } : { ...sliceItem(s, offset), began: s };
        newItems.push(item);
      }
      let list = newByClient.get(s.client);
      if (!list) {
        list = [];
        newByClient.set(s.client, list);
      }
      list.push({ clock: known, end, item });
      knownAfter.set(s.client, end);
    }
    const hasNewStructs = newByClient.size > 0;
    if (hasNewStructs) failWith(writeAllowed(ctx));
    for (const client of newByClient.keys()) {
      const owner = this.clientOwners.get(client);
      if (owner !== undefined && owner !== ctx.userId)
        fail('client_id_taken', `Yjs client ${client} belongs to ${owner}`);
    }

    const findNew = finderOf(newByClient);

    const deletedByUpdate = new RangeIndex();
    for (const range of decoded.update.deletes) deletedByUpdate.add(range.client, range.clock, range.length);
    deletedByUpdate.seal();

    // 2. The delete set: only live items of the document matter; the sender may delete its own new structs.
    const deletedMessageIds = new Set<string>();
    const reactionsOff: string[] = [];
    const step = stepCounter(this.maxSteps);
    for (const range of decoded.update.deletes) {
      const rangeEnd = range.clock + range.length;
      const state = Y.getState(store, range.client);
      if (rangeEnd > state && rangeEnd > (knownAfter.get(range.client) ?? state)) {
        fail('missing_dependencies', `deletes ${range.client}:${range.clock}+${range.length} the server does not have`);
      }
      if (range.clock >= state) continue;
      const structs = store.clients.get(range.client)!;
      for (let i = Y.findIndexSS(structs, range.clock); i < structs.length; i++) {
        const struct = structs[i]!;
        if (struct.id.clock >= rangeEnd) break;
        step();
        if (!(struct instanceof Y.Item) || struct.deleted) continue;
        failWith(writeAllowed(ctx));
        const from = Math.max(range.clock, struct.id.clock) - struct.id.clock;
        const to = Math.min(rangeEnd, struct.id.clock + struct.length) - struct.id.clock;
        this.checkDelete(struct, from, to, ctx, changes, deletedMessageIds, reactionsOff, step);
      }
    }

    // 3. New items: where they go. Messages first, so that edits in the same update know them.
    const contested = new ContestCounter();
    const mapItems: { item: NewItem; placement: Placement & { ok: true } }[] = [];
    const newMessageIds = new Map<string, string>();
    for (const item of newItems) {
      refuseOwnLaterOrigin(item.began ?? item);
      const placement = this.place(item, findNew);
      if (!placement.ok) throw new Refused(placement.refusal);
      if (item.began) this.checkContinuation(item.began, placement, findNew);
      const { content } = item;
      if (content.kind !== 'any' && content.kind !== 'deleted') {
        fail('wrong_type', `${placement.root} holds plain values, not ${content.kind} content`);
      }
      if (placement.root !== 'messages') {
        mapItems.push({ item, placement });
        continue;
      }
      if (placement.key !== null) fail('wrong_type', 'messages is an array, not a map');
      this.checkAppendPosition(item, findNew, deletedByUpdate, contested);
      if (contested.appends > this.maxContestedAppends) {
        fail('decode_budget', `more than ${this.maxContestedAppends} appends compete for their place in one update`);
      }
      if (content.kind !== 'any') continue;
      const deletedNow = deletedByUpdate.has(item.client, item.clock + item.length - 1);
      for (const value of content.values) {
        const id = (value as { id?: unknown } | null)?.id;
        if (typeof id === 'string' && (deletedMessageIds.has(id) || this.retired.has(id))) {
          fail('message_immutable', `message ${id} was deleted and is re-inserted: messages never change in place`);
        }
        failWith(newMessageRule(value, ctx, (mid) => this.idTaken(mid) || newMessageIds.has(mid)));
        const message = { ...(value as ChatMessage) };
        newMessageIds.set(message.id, message.author);
        if (!deletedNow) changes.created.push(message);
      }
    }

    // 4. Map entries: the rules of their key.
    const reactionsOn = new Set<string>();
    const createdNow = new Set<string>(changes.created.map((m) => m.id));
    for (const { item, placement } of mapItems) {
      const key = placement.key;
      if (key === null) fail('wrong_type', `${placement.root} is a map, not an array`);
      if (item.rightOrigin !== null) fail('malformed_update', `${placement.root} entry inserted before another entry`);
      this.countContestedEntry(item, placement.root, key!, findNew, contested);
      if (contested.entries > this.maxContestedEntries) {
        fail(
          'decode_budget',
          `more than ${this.maxContestedEntries} map entries compete for their place in one update`,
        );
      }
      // One such entry is always accepted (an offline device's write costs Yjs that walk, once);
      // further ones only while the walks they cause stay within the budget.
      if (contested.entries > 1 && contested.entrySteps > this.maxSteps) {
        fail('decode_budget', `map entries of this update would make Yjs walk more than ${this.maxSteps} items`);
      }
      const deletedNow = deletedByUpdate.has(item.client, item.clock + item.length - 1);
      const value = item.content.kind === 'any' ? item.content.values : null;
      if (value !== null && value.length !== 1) fail('malformed_update', `${placement.root} entry with several values`);
      const v = value?.[0];
      if (placement.root === 'edits') {
        const newAuthor = newMessageIds.get(key!);
        const target: EditTarget =
          newAuthor !== undefined ? { state: 'live', author: newAuthor } : this.editTarget(key!);
        if (value === null) {
          // A value written and removed before it was sent (its content already collected by the
          // sender). Integrating it still replaces the key's current value, so it is a removal.
          if (this.hasLiveEntry(this.maps.edits, key!)) failWith(editDeleteRule(key!, target, ctx));
          continue;
        }
        failWith(editWriteRule(key!, target, ctx));
        failWith(editValueRule(v));
        const edit = v as { text: string; editedAt: number };
        // Only edits of messages that are there are news: an edit of a deleted message stays hidden
        // (readers ignore it), and publishing its text would bring it back where deleting removed it.
        const shown = newAuthor !== undefined ? createdNow.has(key!) : !deletedMessageIds.has(key!);
        if (!deletedNow && target.state === 'live' && shown)
          changes.edited.push({ messageId: key!, authorId: target.author, text: edit.text, editedAt: edit.editedAt });
      } else if (placement.root === 'reactions') {
        failWith(reactionKeyRule(key!, ctx));
        if (value === null) continue;
        failWith(reactionValueRule(v));
        if (!deletedNow) reactionsOn.add(key!);
      } else {
        failWith(readKeyRule(key!, ctx));
        if (value === null) continue;
        failWith(readValueRule(v));
        const marker = v as { messageId: string; at: number };
        if (!deletedNow) changes.reads.push({ userId: key!, messageId: marker.messageId, at: marker.at });
      }
    }
    // Structs come grouped by Yjs client (highest id first); an offline batch from several app sessions
    // spans several clients, so order by the sender's clock (stable: one client's run keeps its order).
    changes.created.sort((a, b) => a.createdAt - b.createdAt);
    for (const key of reactionsOff) if (!reactionsOn.has(key)) changes.reactions.push({ key, on: false });
    for (const key of reactionsOn) changes.reactions.push({ key, on: true });
    return changes;
  }

  /** Rules for deleting elements [from, to) of a live item of the document. */
  private checkDelete(
    item: Y.Item,
    from: number,
    to: number,
    ctx: GuardContext,
    changes: RoomChanges,
    deletedMessageIds: Set<string>,
    reactionsOff: string[],
    step: () => void,
  ): void {
    const root = this.rootOf(item.parent);
    if (!root.ok) throw new Refused(root.refusal);
    const key = item.parentSub;
    if (root.root === 'messages') {
      const values = item.content instanceof Y.ContentAny ? item.content.getContent() : null;
      for (let k = from; k < to; k++) {
        step();
        const message = values?.[k] as ChatMessage | undefined;
        if (!message || typeof message.author !== 'string') {
          // Not a message (a document written before the guard): only an owner may clean it up.
          if (ctx.role !== 'owner')
            fail('message_delete_not_allowed', 'only an owner may delete a non-message element');
          continue;
        }
        failWith(messageDeleteRule(message.author, ctx));
        deletedMessageIds.add(message.id);
        changes.deleted.push({ messageId: message.id, authorId: message.author, deletedBy: ctx.userId });
      }
      return;
    }
    if (key === null) {
      if (ctx.role !== 'owner') fail('wrong_type', `${root.root} holds no list elements`);
      return;
    }
    if (root.root === 'edits') failWith(editDeleteRule(key, this.editTarget(key), ctx));
    else if (root.root === 'reactions') {
      failWith(reactionKeyRule(key, ctx));
      reactionsOff.push(key);
    } else failWith(readKeyRule(key, ctx));
  }

  /**
   * Where a new item writes. Yjs takes the parent (and map key) from the left
   * origin, else the right origin, else what the struct names; origins may be
   * other new items of the same update, resolved iteratively (no recursion, so
   * a long chain cannot overflow the stack).
   */
  private place(start: NewItem, findNew: (id: StructId) => { item: NewItem | null } | undefined): Placement {
    const chain: NewItem[] = [];
    const visiting = new Set<NewItem>();
    let current: NewItem = start;
    let placement: Placement | undefined;
    while (placement === undefined) {
      if (current.placement) {
        placement = current.placement;
        break;
      }
      if (visiting.has(current)) {
        placement = { ok: false, refusal: { rule: 'malformed_update', detail: 'origins form a cycle' } };
        break;
      }
      visiting.add(current);
      chain.push(current);
      if (current.parentItem !== null) {
        placement = { ok: false, refusal: { rule: 'wrong_type', detail: 'nested types are not part of the room' } };
      } else if (current.parentRoot !== null) {
        placement = this.placeInRoot(current.parentRoot, current.parentSub);
      } else {
        const ref = (current.origin ?? current.rightOrigin)!;
        const inUpdate = findNew(ref);
        if (inUpdate) {
          if (inUpdate.item === null) {
            placement = {
              ok: false,
              refusal: { rule: 'malformed_update', detail: 'origin is a garbage-collected range' },
            };
          } else current = inUpdate.item;
        } else {
          placement = this.placeAfterExisting(ref);
        }
      }
    }
    for (const item of chain) item.placement = placement;
    return placement;
  }

  /**
   * The new part of a struct the document already partly holds. Yjs takes its
   * parent and map key from where the struct began (the origin, right origin
   * or parent the update wrote), then puts it after the document's item at the
   * clock before it, which `place` followed. Both must be one place: if they
   * are not, the server would put the values somewhere other than where every
   * client has them, and somewhere other than the rules were checked for (a
   * read marker landing on someone else's key). Honest clients never send one.
   */
  private checkContinuation(began: DecodedItem, placement: Placement & { ok: true }, findNew: FindNew): void {
    const where = this.place({ ...began }, findNew);
    if (!where.ok) throw new Refused(where.refusal);
    if (where.root !== placement.root || where.key !== placement.key) {
      fail('malformed_update', `struct ${idText(began)} continues somewhere other than where it began`);
    }
  }

  private placeInRoot(name: string, key: string | null): Placement {
    if (name !== 'messages' && name !== 'edits' && name !== 'reactions' && name !== 'reads') {
      return { ok: false, refusal: { rule: 'unknown_key', detail: `unknown top-level key ${JSON.stringify(name)}` } };
    }
    return { ok: true, root: name, key };
  }

  private placeAfterExisting(ref: StructId): Placement {
    const struct = this.existing(ref);
    if (struct === null) {
      return {
        ok: false,
        refusal: { rule: 'missing_dependencies', detail: `refers to ${idText(ref)}, which the server does not have` },
      };
    }
    if (!(struct instanceof Y.Item)) {
      return { ok: false, refusal: { rule: 'malformed_update', detail: 'origin is a garbage-collected range' } };
    }
    const root = this.rootOf(struct.parent);
    return root.ok ? { ok: true, root: root.root, key: struct.parentSub } : root;
  }

  private rootOf(parent: unknown): { ok: true; root: RootName } | { ok: false; refusal: Refusal } {
    const { messages, edits, reactions, reads } = this.maps;
    if (parent === messages) return { ok: true, root: 'messages' };
    if (parent === edits) return { ok: true, root: 'edits' };
    if (parent === reactions) return { ok: true, root: 'reactions' };
    if (parent === reads) return { ok: true, root: 'reads' };
    if (parent instanceof Y.AbstractType && parent._item !== null) {
      return { ok: false, refusal: { rule: 'wrong_type', detail: 'nested types are not part of the room' } };
    }
    return { ok: false, refusal: { rule: 'unknown_key', detail: 'writes under a top-level key outside the schema' } };
  }

  /** The document's struct holding `id`, or null when the document does not have it (no mutation). */
  private existing(id: StructId): Y.Item | Y.GC | null {
    if (id.clock >= Y.getState(this.doc.store, id.client)) return null;
    const structs = this.doc.store.clients.get(id.client)!;
    return structs[Y.findIndexSS(structs, id.clock)] as Y.Item | Y.GC;
  }

  /**
   * "Only at the end of the array as the sender saw it", judged from what the
   * struct proves, in O(1) (plus one binary search per origin):
   *
   * - the right origin is nothing (a push) or a deleted item (an insert at
   *   `length` lands before trailing deleted items). A live right origin is
   *   an insert before something the sender saw: refused.
   * - the left origin is nothing (the sender's array was empty), another new
   *   item of this update (an offline batch), or any item of `messages`: the
   *   items after it that the sender had not seen are concurrent appends
   *   (someone posting at the same moment, a device back after months).
   *   Yjs orders the new item among them. There is no distance limit, so a
   *   long-offline device is never wedged; the price is README "Appends".
   * - the one thing an old origin can still prove: an origin inside a longer
   *   item of the sender's own Yjs client (it wrote the elements after it).
   *
   * Appends that Yjs must order against other items are counted (see
   * `ContestCounter`), because Yjs walks the room for each of them.
   */
  private checkAppendPosition(
    item: NewItem,
    findNew: FindNew,
    deletedByUpdate: RangeIndex,
    contested: ContestCounter,
  ): void {
    let rightItem: Y.Item | null = null;
    if (item.rightOrigin !== null) {
      const ref = item.rightOrigin;
      const inUpdate = findNew(ref);
      const existing = inUpdate ? null : this.existing(ref);
      const placed = inUpdate?.item ? this.place(inUpdate.item, findNew) : null;
      const inMessages = inUpdate
        ? placed?.ok === true && placed.root === 'messages'
        : existing instanceof Y.Item && existing.parent === this.maps.messages;
      if (!inMessages) fail('malformed_update', `right origin ${idText(ref)} is not in messages`);
      const deleted = inUpdate
        ? inUpdate.item?.content.kind === 'deleted' || deletedByUpdate.has(ref.client, ref.clock)
        : (existing as Y.Item).deleted || deletedByUpdate.has(ref.client, ref.clock);
      if (!deleted) fail('message_not_appended', `message inserted before ${idText(ref)}, not at the end`);
      if (existing instanceof Y.Item) rightItem = existing;
    }
    if (item.origin === null) {
      contested.place(item, 'messages', this.maps.messages._start !== null && this.maps.messages._start !== rightItem);
      return;
    }
    if (findNew(item.origin)) {
      contested.place(item, 'messages', false);
      return;
    }
    // place() resolved the origin to an item of messages (a GC'd range is refused there).
    const left = this.existing(item.origin) as Y.Item;
    const inside = item.origin.clock < left.id.clock + left.length - 1;
    if (inside && !left.deleted && left.id.client === item.client) {
      fail('message_not_appended', 'message inserted between earlier messages of the same sender');
    }
    // Yjs runs its conflict walk when the origin's right neighbour is not the right origin.
    contested.place(item, 'messages', inside || left.right !== rightItem);
  }

  /** Counts a map entry Yjs must order against other entries of its key (it walks the key's history for it). */
  private countContestedEntry(
    item: NewItem,
    root: RootName,
    key: string,
    findNew: FindNew,
    contested: ContestCounter,
  ): void {
    const map = mapItems(this.maps[root]);
    let far: boolean;
    if (item.origin === null) far = map.has(key);
    else if (findNew(item.origin)) far = false;
    else {
      const left = this.existing(item.origin) as Y.Item;
      far = left.right !== null || item.origin.clock < left.id.clock + left.length - 1;
    }
    contested.place(item, `${root}/${key}`, far, this.keyHistory.get(`${root}/${key}`) ?? 0);
  }

  /** What the room knows about the message `messageId` (for edits). */
  private editTarget(messageId: string): EditTarget {
    const live = this.authors.get(messageId);
    if (live !== undefined) return { state: 'live', author: live };
    const deleted = this.tombstones.get(messageId);
    if (deleted !== undefined) return { state: 'deleted', author: deleted };
    return { state: 'unknown' };
  }

  /**
   * Whether a new message may not use this id: a message in the room, one
   * ever deleted from it, or an id with an `edits` entry (live or overwritten).
   * The last makes edits of unknown ids inert: they can never attach to a
   * message appended later (see rules.ts `editWriteRule`). A deleted message's
   * id stays taken because reactions, replies and read markers name messages
   * by id: a new message under it would inherit the old one's.
   */
  private idTaken(messageId: string): boolean {
    return this.authors.has(messageId) || this.retired.has(messageId) || mapItems(this.maps.edits).has(messageId);
  }

  private hasLiveEntry(map: { _map: Map<string, Y.Item> }, key: string): boolean {
    const current = map._map.get(key);
    return current !== undefined && !current.deleted;
  }

  /** Records the owner of a client id from the first of its structs (from index `from`) that names one. */
  private learnOwner(client: number, structs: readonly (Y.Item | Y.GC)[], from: number): void {
    for (let i = from; i < structs.length; i++) {
      const s = structs[i];
      const owner = s instanceof Y.Item ? this.ownerOf(s) : null;
      if (owner !== null) {
        this.clientOwners.set(client, owner);
        return;
      }
    }
  }

  /** The user an item was written by, as far as its content or key tells; null when it does not. */
  private ownerOf(item: Y.Item): string | null {
    const key = item.parentSub;
    if (item.parent === this.maps.messages) {
      const values = item.content instanceof Y.ContentAny ? item.content.getContent() : [];
      const author = (values[0] as Partial<ChatMessage> | undefined)?.author;
      return typeof author === 'string' ? author : null;
    }
    if (key === null) return null;
    if (item.parent === this.maps.reads) return key;
    if (item.parent === this.maps.reactions) return parseReactionKey(key)?.userId ?? null;
    if (item.parent === this.maps.edits) return this.authors.get(key) ?? this.tombstones.get(key) ?? null;
    return null;
  }

  private learn(value: unknown): void {
    const m = value as Partial<ChatMessage> | null;
    if (m && typeof m.id === 'string' && typeof m.author === 'string') this.authors.set(m.id, m.author);
  }

  /** A message was deleted: it leaves the index and its author is remembered as a tombstone. */
  private forget(value: unknown): void {
    const m = value as Partial<ChatMessage> | null;
    if (!m || typeof m.id !== 'string' || typeof m.author !== 'string' || this.authors.get(m.id) !== m.author) return;
    this.authors.delete(m.id);
    this.retired.add(m.id);
    this.tombstones.delete(m.id);
    this.tombstones.set(m.id, m.author);
    if (this.tombstones.size > this.maxTombstones) {
      const oldest = this.tombstones.keys().next().value as string;
      this.tombstones.delete(oldest);
    }
  }

  /**
   * Keeps the message index current after every transaction on the document
   * (accepted client updates, Redis, load, server-side writes). Runs before
   * Yjs garbage-collects the deleted content, so deleted messages can still be
   * read here and moved to the tombstones. Cost: the structs the transaction added or deleted.
   */
  private track(tr: Y.Transaction): void {
    const store = this.doc.store;
    const messages = this.maps.messages;
    // The clients this transaction added structs of (the state vectors list every client of the room).
    const grown: Array<{ client: number; before: number }> = [];
    // forEach, not for…of: the entries' [client, clock] pairs were 0.4% of what the server allocated under load.
    tr.afterState.forEach((after, client) => {
      const before = tr.beforeState.get(client) ?? 0;
      if (after > before) grown.push({ client, before });
    });
    for (const { client, before } of grown) {
      const structs = store.clients.get(client)!;
      for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
        const s = structs[i]!;
        if (!(s instanceof Y.Item)) continue;
        if (s.parent === messages) {
          if (!s.deleted && s.content instanceof Y.ContentAny)
            for (const value of s.content.getContent()) this.learn(value);
        } else if (s.parentSub !== null) {
          const root = this.rootOf(s.parent);
          if (root.ok) {
            const name = `${root.root}/${s.parentSub}`;
            this.keyHistory.set(name, (this.keyHistory.get(name) ?? 0) + 1);
          }
        }
      }
    }
    // After the messages above are indexed, so an edit can name its message's author.
    for (const { client, before } of grown) {
      if (this.clientOwners.has(client)) continue;
      const structs = store.clients.get(client)!;
      this.learnOwner(client, structs, Y.findIndexSS(structs, before));
    }
    for (const [client, ranges] of tr.deleteSet.clients) {
      const structs = store.clients.get(client);
      if (!structs) continue;
      for (const range of ranges) {
        const end = range.clock + range.len;
        for (let i = Y.findIndexSS(structs, range.clock); i < structs.length; i++) {
          const s = structs[i]!;
          if (s.id.clock >= end) break;
          if (!(s instanceof Y.Item) || s.parent !== messages || !(s.content instanceof Y.ContentAny)) continue;
          const values = s.content.getContent();
          const from = Math.max(range.clock, s.id.clock) - s.id.clock;
          const to = Math.min(end, s.id.clock + s.length) - s.id.clock;
          for (let k = from; k < to; k++) this.forget(values[k]);
        }
      }
    }
  }
}

/** The part of a struct from `offset` on, as Yjs integrates it: its left origin becomes the struct's own previous clock. */
/*
 * The two closures `evaluate` makes per update come from these factories: the TypeScript loader the
 * services run under (tsx, esbuild's keepNames) wraps an arrow function bound to a name in a call that
 * defines its `name` property, on every evaluation (1% of the event loop at 24,000 deliveries/s); a
 * returned arrow has no name to keep.
 */

/** The new struct (or skip) of this update covering `id`, by binary search in its client's runs. */
/** A v1 delete set (Yjs's DSEncoderV1): clients, then each one's ranges as clock and length. */
function writeDeleteSet(encoder: encoding.Encoder, ranges: readonly DeleteRange[]): void {
  const byClient = new Map<number, DeleteRange[]>();
  for (const range of ranges) {
    const list = byClient.get(range.client);
    if (list) list.push(range);
    else byClient.set(range.client, [range]);
  }
  encoding.writeVarUint(encoder, byClient.size);
  for (const [client, list] of byClient) {
    encoding.writeVarUint(encoder, client);
    encoding.writeVarUint(encoder, list.length);
    for (const { clock, length } of list) {
      encoding.writeVarUint(encoder, clock);
      encoding.writeVarUint(encoder, length);
    }
  }
}

function finderOf(newByClient: ReadonlyMap<number, ReadonlyArray<NewRun>>): FindNew {
  return (id) => {
    const list = newByClient.get(id.client);
    return list && runAt(list, id.clock);
  };
}

/** Counts the check's steps and refuses the update (decode_budget) past `maxSteps`. */
function stepCounter(maxSteps: number): () => void {
  let steps = 0;
  return () => {
    if (++steps > maxSteps) fail('decode_budget', `checking needs more than ${maxSteps} steps`);
  };
}

/**
 * Yjs integrates a client's structs in clock order and resolves an origin of
 * the same client without waiting for it, so one at or after the struct's own
 * clock makes it throw in the middle of the apply, after the structs of other
 * clients were integrated (and relayed).
 */
function refuseOwnLaterOrigin(item: DecodedItem): void {
  for (const ref of [item.origin, item.rightOrigin]) {
    if (ref !== null && ref.client === item.client && ref.clock >= item.clock) {
      fail('malformed_update', `struct ${idText(item)} refers to ${idText(ref)}, a later change of its own client`);
    }
  }
}

function sliceItem(s: DecodedItem, offset: number): NewItem {
  const content =
    s.content.kind === 'any' || s.content.kind === 'json'
      ? { ...s.content, values: s.content.values.slice(offset) }
      : s.content;
  return {
    ...s,
    clock: s.clock + offset,
    length: s.length - offset,
    origin: { client: s.client, clock: s.clock + offset - 1 },
    content,
  };
}

/**
 * `user:<id>` documents hold the user's private state (drafts) in whatever
 * shape the client wants, and only that user connects. The guard only makes
 * sure the bytes are a sane v1 update of bounded size and cost.
 */
export function checkUserDocumentUpdate(
  update: Uint8Array,
  _ctx: GuardContext,
  options: Pick<RoomGuardOptions, 'maxUpdateBytes' | 'decodeLimits'> = {},
): GuardVerdict {
  const maxUpdateBytes = options.maxUpdateBytes ?? DEFAULT_MAX_UPDATE_BYTES;
  if (update.length > maxUpdateBytes)
    return { ok: false, rule: 'too_large', detail: `update of ${update.length} bytes` };
  const decoded = decodeUpdateBounded(update, options.decodeLimits);
  if (!decoded.ok) {
    const rule = decoded.failure.reason === 'budget' ? 'decode_budget' : 'malformed_update';
    return { ok: false, rule, detail: decoded.failure.detail };
  }
  return { ok: true, changes: emptyChanges() };
}

/** A root map's key → newest item (Yjs internal `_map`, public in its typings; deleted items included). */
function mapItems(map: { _map: Map<string, Y.Item> }): Map<string, Y.Item> {
  return map._map;
}
