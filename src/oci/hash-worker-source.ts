/**
 * Source of the hash worker (run with `new Worker(code, { eval: true })`, so it
 * works from `dist/` and from `src/` under a TypeScript runner alike).
 *
 * Protocol (see hash-offload.ts): the main thread owns a SharedArrayBuffer ring
 * of power-of-two size and a control `Int32Array`:
 * - `ctrl[0]` write counter, `ctrl[1]` read counter (both mod 2^31),
 * - `ctrl[2]` state (0 running, 1 finish requested, 2 abort),
 * - `ctrl[3]` doorbell, bumped by the main thread on every write and state
 *   change; the worker sleeps on it (so no wake-up is lost) and is notified
 *   only when `ctrl[4]` (worker sleeping) is set and at least `wakeBytes` are
 *   pending or the state changed,
 * - `ctrl[5]` main thread waiting for space: only then does the worker notify
 *   `ctrl[1]`.
 * Batching wake-ups this way keeps futex calls to ~1 per `wakeBytes`.
 * A `ring` job hashes everything written until state 1, then posts the hex
 * digest; a `file` job reads a file (using the ring as its read buffer) and
 * posts the digest and size. Errors are posted, never thrown.
 * @internal
 */
export const HASH_WORKER_SOURCE = String.raw`
'use strict';
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const W = 0, R = 1, STATE = 2, BELL = 3, SLEEPING = 4, MAIN_WAITING = 5, MASK31 = 0x7fffffff;
const SLICE = 256 * 1024;
let ctrl, data;
function runRing(m) {
  const size = data.length, mask = size - 1;
  const h = createHash(m.algorithm);
  let r = Atomics.load(ctrl, R);
  for (;;) {
    const bell = Atomics.load(ctrl, BELL);
    let avail = (Atomics.load(ctrl, W) - r) & MASK31;
    const state = Atomics.load(ctrl, STATE);
    if (avail >= m.wakeBytes || (avail > 0 && state !== 0)) {
      while (avail > 0) {
        const pos = r & mask;
        const n = Math.min(avail, size - pos, SLICE);
        h.update(data.subarray(pos, pos + n));
        r = (r + n) & MASK31;
        avail -= n;
        Atomics.store(ctrl, R, r);
        if (Atomics.load(ctrl, MAIN_WAITING) === 1) Atomics.notify(ctrl, R);
      }
      continue;
    }
    if (state === 1) return { type: 'digest', hex: h.digest('hex') };
    if (state === 2) return { type: 'aborted' };
    Atomics.store(ctrl, SLEEPING, 1);
    Atomics.wait(ctrl, BELL, bell, 1000);
    Atomics.store(ctrl, SLEEPING, 0);
  }
}
function runFile(m) {
  const h = createHash(m.algorithm);
  const fd = fs.openSync(m.path, 'r');
  let size = 0;
  try {
    for (;;) {
      if (Atomics.load(ctrl, STATE) === 2) return { type: 'aborted' };
      const n = fs.readSync(fd, data, 0, data.length, null);
      if (n === 0) break;
      h.update(data.subarray(0, n));
      size += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { type: 'digest', hex: h.digest('hex'), size };
}
parentPort.on('message', (m) => {
  let out;
  try {
    if (m.type === 'init') {
      ctrl = new Int32Array(m.ctrl);
      data = Buffer.from(m.data);
      return;
    }
    out = m.type === 'ring' ? runRing(m) : runFile(m);
  } catch (e) {
    out = { type: 'error', message: String((e && e.message) || e), code: e && typeof e.code === 'string' ? e.code : undefined };
  }
  out.job = m.job;
  parentPort.postMessage(out);
});
`;
