/**
 * A tube: a named queue with its own ready heap (priority, then id), delay heap
 * (deadline, then id), buried list (oldest first) and waiting connections.
 *
 * Tubes are reference-counted like beanstalkd's: every job in the tube, every
 * connection using it and every watch of it holds a reference, and the tube
 * disappears (from `list-tubes` too) when the last one goes.
 */

import type { Conn } from "./conn.ts";
import { Heap } from "./heap.ts";
import type { JobStore } from "./jobs.ts";
import { JobList } from "./list.ts";
import { Ms } from "./ms.ts";

export const MAX_TUBE_NAME_LEN = 200;

export class Tube {
  /** Position in the queue's tube registry (what jobs store). */
  index = -1;
  refs = 0;
  readonly ready: Heap<number>;
  readonly delay: Heap<number>;
  /** Buried jobs, oldest first. */
  readonly buried = new JobList();
  readonly waiting = new Ms<Conn>();

  // Counters reported by stats-tube.
  urgent = 0;
  reserved = 0;
  totalJobs = 0;
  using = 0;
  watching = 0;
  deletes = 0;
  pauses = 0;

  /** Length of the current pause in ms (0 = not paused) and when it ends. */
  pause = 0;
  unpauseAt = 0;

  constructor(
    readonly name: string,
    store: JobStore,
  ) {
    const setPos = (slot: number, pos: number) => {
      store.heapPos[slot] = pos;
    };
    this.ready = new Heap<number>((a, b) => {
      const pri = store.pri;
      const pa = pri[a]!;
      const pb = pri[b]!;
      return pa < pb || (pa === pb && store.id[a]! < store.id[b]!);
    }, setPos);
    this.delay = new Heap<number>((a, b) => {
      const d = store.deadline;
      const da = d[a]!;
      const db = d[b]!;
      return da < db || (da === db && store.id[a]! < store.id[b]!);
    }, setPos);
  }
}

const NAME_CHARS = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-+/;.$_()") {
  NAME_CHARS[c.charCodeAt(0)] = 1;
}

/** Length of the run of tube-name characters in `buf` from `start`. */
export function nameSpan(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end && NAME_CHARS[buf[i]!]) i++;
  return i - start;
}

/** beanstalkd's is_valid_tube: 1..200 name characters, not starting with '-'. */
export function isValidTubeName(buf: Uint8Array, start: number, end: number): boolean {
  const len = end - start;
  return len > 0 && len <= MAX_TUBE_NAME_LEN && buf[start] !== 0x2d && nameSpan(buf, start, end) === len;
}
