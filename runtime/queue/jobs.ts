/**
 * All jobs, stored column-wise: one typed array per field, indexed by a slot
 * number. A million jobs then cost a few dozen bytes of fields each and no
 * per-job JavaScript object for the garbage collector to trace.
 *
 * A slot is valid from `alloc` until `free`; job ids map to slots through an
 * open-addressing table (`find`). Ids are never reused; slots are.
 */
import { BodyArena } from "./arena.ts";

export const enum JobState {
  Invalid = 0,
  Ready = 1,
  Reserved = 2,
  Buried = 3,
  Delayed = 4,
}

export const STATE_NAMES = ["invalid", "ready", "reserved", "buried", "delayed"] as const;

/** Marks "no slot" in links and lookups. */
export const NONE = -1;

export class JobStore {
  capacity = 0;
  id = new Float64Array(0);
  pri = new Uint32Array(0);
  state = new Uint8Array(0);
  /** Index of the job's tube in the queue's tube registry. */
  tube = new Uint32Array(0);
  /** Seconds, as given by put or release. */
  delay = new Uint32Array(0);
  /** Seconds, at least 1. */
  ttr = new Uint32Array(0);
  /** Monotonic milliseconds. */
  created = new Float64Array(0);
  /** Monotonic milliseconds: end of the delay, or of the reservation. */
  deadline = new Float64Array(0);
  /** Position in the ready or delay heap this job is in. */
  heapPos = new Int32Array(0);
  /** Links of the one list a job can be in: its tube's buried list or its reserver's list. */
  next = new Int32Array(0);
  prev = new Int32Array(0);
  reserves = new Uint32Array(0);
  timeouts = new Uint32Array(0);
  releases = new Uint32Array(0);
  buries = new Uint32Array(0);
  kicks = new Uint32Array(0);
  /** Body size in bytes, including the trailing "\r\n". */
  size = new Uint32Array(0);
  body = new Float64Array(0);
  /** Opaque per-job word for the persistence layer (e.g. its log file). */
  persist = new Int32Array(0);
  /** The connection holding a reserved job (any object; the queue's own type). */
  reserver: (object | null)[] = [];

  readonly bodies = new BodyArena();
  private freeSlots: number[] = [];
  private used = 0;
  count = 0;

  // id -> slot, linear probing; key 0 means empty (ids start at 1). Ids are
  // sequential, so they are scrambled (hashId) before probing: with the
  // identity as hash, live ids form one solid run of slots and every
  // deletion's backward shift would walk all of it.
  private keys = new Float64Array(1024);
  private vals = new Int32Array(1024);
  private mask = 1023;

  alloc(id: number, bodySize: number): number {
    let slot: number;
    if (this.freeSlots.length) slot = this.freeSlots.pop()!;
    else {
      if (this.used === this.capacity) this.grow();
      slot = this.used++;
    }
    this.id[slot] = id;
    this.size[slot] = bodySize;
    this.body[slot] = this.bodies.alloc(bodySize);
    this.state[slot] = JobState.Invalid;
    this.heapPos[slot] = NONE;
    this.next[slot] = NONE;
    this.prev[slot] = NONE;
    this.reserves[slot] = 0;
    this.timeouts[slot] = 0;
    this.releases[slot] = 0;
    this.buries[slot] = 0;
    this.kicks[slot] = 0;
    this.persist[slot] = 0;
    this.reserver[slot] = null;
    this.count++;
    this.index(id, slot);
    return slot;
  }

  free(slot: number): void {
    this.unindex(this.id[slot]!);
    // Give the table back after a large queue drains (keeps load >= 1/8).
    if (this.mask > 1023 && 8 * this.count < this.mask + 1) this.rehash((this.mask + 1) / 2);
    this.bodies.release(this.body[slot]!);
    this.state[slot] = JobState.Invalid;
    this.reserver[slot] = null;
    this.freeSlots.push(slot);
    this.count--;
  }

  /** The job's body bytes including the trailing "\r\n" (a view into the arena). */
  bodyOf(slot: number): Uint8Array {
    return this.bodies.view(this.body[slot]!, this.size[slot]!);
  }

  /** The array holding the job's body (from `bodyOffset(slot)`, `size[slot]` bytes). */
  bodyBuffer(slot: number): Uint8Array {
    return this.bodies.bufferOf(this.body[slot]!);
  }

  bodyOffset(slot: number): number {
    return this.bodies.offsetOf(this.body[slot]!);
  }

  /** The slot of the live job with this id, or NONE. */
  find(id: number): number {
    if (!(id >= 1) || id > Number.MAX_SAFE_INTEGER) return NONE;
    const keys = this.keys;
    const mask = this.mask;
    for (let i = hashId(id) & mask; ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === id) return this.vals[i]!;
      if (k === 0) return NONE;
    }
  }

  private index(id: number, slot: number): void {
    if (2 * (this.count + 1) > this.mask + 1) this.rehash((this.mask + 1) * 2);
    const keys = this.keys;
    const mask = this.mask;
    let i = hashId(id) & mask;
    while (keys[i] !== 0) i = (i + 1) & mask;
    keys[i] = id;
    this.vals[i] = slot;
  }

  private unindex(id: number): void {
    const keys = this.keys;
    const vals = this.vals;
    const mask = this.mask;
    let i = hashId(id) & mask;
    while (keys[i] !== id) {
      if (keys[i] === 0) return;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion keeps probe chains intact without tombstones.
    for (;;) {
      keys[i] = 0;
      let j = i;
      for (;;) {
        j = (j + 1) & mask;
        const k = keys[j]!;
        if (k === 0) return;
        const home = hashId(k) & mask;
        // Move k into the hole unless its home lies cyclically in (i, j].
        const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
        if (!inRange) {
          keys[i] = k;
          vals[i] = vals[j]!;
          i = j;
          break;
        }
      }
    }
  }

  private rehash(cap: number): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    this.keys = new Float64Array(cap);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
    for (let i = 0; i < oldKeys.length; i++) {
      const k = oldKeys[i]!;
      if (k === 0) continue;
      let j = hashId(k) & this.mask;
      while (this.keys[j] !== 0) j = (j + 1) & this.mask;
      this.keys[j] = k;
      this.vals[j] = oldVals[i]!;
    }
  }

  private grow(): void {
    const cap = Math.max(1024, this.capacity * 2);
    const g = <A extends Float64Array | Uint32Array | Int32Array | Uint8Array>(a: A): A => {
      const b = new (a.constructor as new (n: number) => A)(cap);
      b.set(a);
      return b;
    };
    this.id = g(this.id);
    this.pri = g(this.pri);
    this.state = g(this.state);
    this.tube = g(this.tube);
    this.delay = g(this.delay);
    this.ttr = g(this.ttr);
    this.created = g(this.created);
    this.deadline = g(this.deadline);
    this.heapPos = g(this.heapPos);
    this.next = g(this.next);
    this.prev = g(this.prev);
    this.reserves = g(this.reserves);
    this.timeouts = g(this.timeouts);
    this.releases = g(this.releases);
    this.buries = g(this.buries);
    this.kicks = g(this.kicks);
    this.size = g(this.size);
    this.body = g(this.body);
    this.persist = g(this.persist);
    this.capacity = cap;
  }
}

/** Scrambles a job id (an integer below 2^53) into 32 well-mixed bits (murmur3's finaliser). */
function hashId(id: number): number {
  let h = (id >>> 0) ^ Math.imul(Math.floor(id / 4294967296), 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
