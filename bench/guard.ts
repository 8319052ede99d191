/**
 * The sync server's update guard must cost O(update), flat in room size.
 * Measures `RoomGuard.check` of one append (and one edit) in a 100-message
 * room and in a 100,000-message room, next to the naive approach (clone the
 * room document and apply the update to the clone), and reports the ratio.
 * Also: an append from a device that was offline since the room's first
 * message (checked in O(1); what Yjs then spends applying it), the most
 * expensive update the guard accepts (`maxContestedAppends` such appends) and
 * hostile updates it refuses.
 *
 *   BENCH_MODE=smoke|quick|full npx tsx bench/guard.ts   (JSON lines on stdout)
 * Rooms: 100 vs 2,000 (smoke), 100 vs 20,000 (quick), 100 vs 100,000 (full);
 * `comparison` lines (bench/src/mode.ts): the guard against the naive check,
 * and the large room against the small one.
 */
import { appendMessage, editMessage, type MessageId, roomMaps, type UserId } from '@confab/protocol';
import * as Y from 'yjs';
import { RoomGuard } from '../sync-server/src/guard/index';
import { Bytes, craftUpdate } from '../sync-server/src/guard/test-kit';
import { byMode, printComparison } from './src/mode';

const AUTHORS = 50;
const alice = { userId: 'alice', role: 'member' as const };

function buildRoom(messages: number): Y.Doc {
  const doc = new Y.Doc();
  // Messages from 50 Yjs clients in turn, so the array is one item per message
  // (as in a real room), not a few long merged runs.
  // insert(length) rather than push: push walks from the start of the list every time (quadratic build),
  // insert keeps Yjs's search markers; both write an item whose right origin is null.
  const array = roomMaps(doc).messages;
  for (let i = 0; i < messages; i++) {
    doc.clientID = 1_000 + (i % AUTHORS);
    array.insert(array.length, [
      { id: `m${i}` as MessageId, author: `user${i % AUTHORS}` as UserId, text: `message ${i}`, createdAt: 1 + i },
    ]);
  }
  doc.clientID = 999;
  return doc;
}

const states = new WeakMap<Y.Doc, Uint8Array>();
function stateOf(doc: Y.Doc): Uint8Array {
  let state = states.get(doc);
  if (!state) {
    state = Y.encodeStateAsUpdate(doc);
    states.set(doc, state);
  }
  return state;
}

function clientUpdate(server: Y.Doc, change: (doc: Y.Doc) => void): Uint8Array {
  const client = new Y.Doc();
  Y.applyUpdate(client, Y.encodeStateAsUpdate(server));
  change(client);
  return Y.encodeStateAsUpdate(client, Y.encodeStateVector(server));
}

function measure(iterations: number, run: () => void) {
  for (let i = 0; i < Math.min(iterations, 50); i++) run(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    run();
    samples.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return { iterations, medianUs: +at(0.5).toFixed(2), p99Us: +at(0.99).toFixed(2) };
}

const [small, large] = [100, byMode({ smoke: 2_000, quick: 20_000, full: 100_000 })];
// Iterations of the cheap (microsecond) checks; the room build dominates the time anyway.
const checkIterations = byMode({ smoke: 500, quick: 2_000, full: 5_000 });
const results = new Map<string, number>();

for (const size of [small!, large!]) {
  const buildStart = performance.now();
  const server = buildRoom(size);
  const guardStart = performance.now();
  const guard = new RoomGuard(server);
  const indexMs = performance.now() - guardStart;
  console.log(
    JSON.stringify({
      bench: 'guard',
      room: size,
      op: 'load',
      buildMs: +(guardStart - buildStart).toFixed(1),
      indexMs: +indexMs.toFixed(1),
    }),
  );

  const append = clientUpdate(server, (doc) =>
    appendMessage(doc, { id: 'new' as MessageId, author: 'alice' as UserId, text: 'hi', createdAt: 1 }),
  );
  const edit = clientUpdate(server, (doc) => editMessage(doc, `m${size - 1}` as MessageId, 'edited', 2));
  const editor = { userId: `user${(size - 1) % AUTHORS}`, role: 'member' as const };
  if (!guard.check(append, alice).ok || !guard.check(edit, editor).ok) throw new Error('bench updates must pass');

  const checkAppend = measure(checkIterations, () => guard.check(append, alice));
  const checkEdit = measure(checkIterations, () => guard.check(edit, editor));
  const stateUpdate = stateOf(server);
  const naiveIterations = size > 10_000 ? 5 : byMode({ smoke: 20, quick: 100, full: 500 });
  const naive = measure(naiveIterations, () => {
    const clone = new Y.Doc();
    Y.applyUpdate(clone, stateUpdate);
    Y.applyUpdate(clone, append);
  });
  // Big legitimate input: an offline batch of 2,000 messages in one update.
  const batch = clientUpdate(server, (doc) => {
    for (let i = 0; i < 2_000; i++) {
      appendMessage(doc, { id: `b${i}` as MessageId, author: 'alice' as UserId, text: `offline ${i}`, createdAt: i });
    }
  });
  if (!guard.check(batch, alice).ok) throw new Error('the batch must pass');
  const checkBatch = measure(byMode({ smoke: 5, quick: 20, full: 50 }), () => guard.check(batch, alice));
  console.log(
    JSON.stringify({
      bench: 'guard',
      room: size,
      op: 'check_offline_batch_2000',
      updateBytes: batch.length,
      ...checkBatch,
    }),
  );
  // A device that was offline since the first message came back: its append's origin is the first message.
  // The guard checks it in O(1); Yjs walks the room to place it (a high Yjs client id sorts it last).
  const first = roomMaps(server).messages._start!.id;
  const farAppend = (client: number) =>
    craftUpdate(client, 0, [
      { origin: first, values: [{ id: `far${client}`, author: 'alice', text: 'back after months', createdAt: 1 }] },
    ]);
  const longOffline = farAppend(999_999_000);
  // The most expensive update the guard accepts: maxContestedAppends (4) such appends from 4 app sessions.
  const worstAccepted = Y.mergeUpdates([0, 1, 2, 3].map((i) => farAppend(999_998_000 + i)));
  for (const update of [longOffline, worstAccepted]) {
    const verdict = guard.check(update, alice);
    if (!verdict.ok) throw new Error(`far appends within the budget must pass: ${verdict.rule}`);
  }
  const checkLongOffline = measure(checkIterations, () => guard.check(longOffline, alice));
  // What Yjs spends applying them: on a fresh copy of the room each time, since applying changes the room.
  const applyMs = (update: Uint8Array) => {
    const copies = size > 10_000 ? 3 : 30;
    const samples: number[] = [];
    for (let i = 0; i < copies; i++) {
      const copy = new Y.Doc();
      Y.applyUpdate(copy, stateOf(server));
      const start = performance.now();
      Y.applyUpdate(copy, update);
      samples.push(performance.now() - start);
    }
    samples.sort((x, y) => x - y);
    return +samples[Math.floor(samples.length / 2)]!.toFixed(1);
  };
  console.log(
    JSON.stringify({
      bench: 'guard',
      room: size,
      op: 'long_offline_append',
      checkMedianUs: checkLongOffline.medianUs,
      yjsApplyMedianMs: applyMs(longOffline),
      worstAcceptedYjsApplyMedianMs: applyMs(worstAccepted),
    }),
  );
  // Worst hostile input within the limits: 15,000 appends (just under 1 MiB) that all point at the first message.
  // Yjs would walk the room for each of them; the guard refuses it by counting (maxContestedAppends).
  const hostile = craftUpdate(
    4242,
    0,
    Array.from({ length: 15_000 }, (_, i) => ({
      origin: first,
      values: [{ id: `h${i}`, author: 'alice', text: 'x', createdAt: 1 }],
    })),
  );
  const hostileVerdict = guard.check(hostile, alice);
  const checkHostile = measure(20, () => guard.check(hostile, alice));
  console.log(
    JSON.stringify({
      bench: 'guard',
      room: size,
      op: 'check_hostile_far_origins',
      updateBytes: hostile.length,
      verdict: hostileVerdict.ok ? 'ok' : hostileVerdict.rule,
      ...checkHostile,
    }),
  );
  // 20,000 Yjs clients each appending one (deleted) item right after the last message: each would walk past all
  // the others (about 23 s for Yjs, measured), in a 300 kB frame. Refused by counting siblings.
  let last = roomMaps(server).messages._start!;
  while (last.right) last = last.right;
  const siblings = new Bytes().varUint(20_000);
  for (let i = 0; i < 20_000; i++) {
    siblings
      .varUint(1)
      .varUint(5_000_000 + i)
      .varUint(0);
    siblings
      .u8(1 | 0x80)
      .varUint(last.id.client)
      .varUint(last.id.clock + last.length - 1)
      .varUint(1);
  }
  const siblingUpdate = siblings.varUint(0).bytes();
  const siblingVerdict = guard.check(siblingUpdate, alice);
  const checkSiblings = measure(20, () => guard.check(siblingUpdate, alice));
  console.log(
    JSON.stringify({
      bench: 'guard',
      room: size,
      op: 'check_hostile_siblings',
      updateBytes: siblingUpdate.length,
      verdict: siblingVerdict.ok ? 'ok' : siblingVerdict.rule,
      ...checkSiblings,
    }),
  );
  results.set(`append:${size}`, checkAppend.medianUs);
  results.set(`naive:${size}`, naive.medianUs);
  for (const [op, r] of [
    ['check_append', checkAppend],
    ['check_edit', checkEdit],
    ['naive_clone_apply_append', naive],
  ] as const) {
    console.log(JSON.stringify({ bench: 'guard', room: size, op, updateBytes: append.length, ...r }));
  }
  printComparison('guard', {
    case: `room of ${size.toLocaleString('en-US')} messages`,
    metric: 'check one append (median)',
    unit: 'µs',
    subject: 'RoomGuard.check',
    value: checkAppend.medianUs,
    baseline: 'naive: clone the room, apply the update',
    baselineValue: naive.medianUs,
    better: 'lower',
  });
  guard.destroy();
}

const ratio = results.get(`append:${large}`)! / results.get(`append:${small}`)!;
const naiveRatio = results.get(`naive:${large}`)! / results.get(`naive:${small}`)!;
const roomsCase = `${small!.toLocaleString('en-US')} vs ${large!.toLocaleString('en-US')} messages`;
printComparison('guard', {
  case: roomsCase,
  metric: 'check one append (median), large room',
  unit: 'µs',
  subject: 'RoomGuard.check',
  value: results.get(`append:${large}`)!,
  baseline: 'the same in the small room (flat = 1)',
  baselineValue: results.get(`append:${small}`)!,
  better: 'lower',
});
printComparison('guard', {
  case: roomsCase,
  metric: 'naive check (median), large room',
  unit: 'µs',
  subject: 'naive clone + apply',
  value: results.get(`naive:${large}`)!,
  baseline: 'the same in the small room',
  baselineValue: results.get(`naive:${small}`)!,
  better: 'lower',
});
console.log(
  JSON.stringify({
    bench: 'guard',
    op: 'summary',
    rooms: [small, large],
    checkAppendRatio: +ratio.toFixed(2),
    naiveRatio: +naiveRatio.toFixed(1),
    naiveOverGuardAtLarge: +(results.get(`naive:${large}`)! / results.get(`append:${large}`)!).toFixed(0),
  }),
);
