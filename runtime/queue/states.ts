/**
 * Moving jobs between states (ready, delayed, buried, reserved) with every
 * structure that mirrors the state kept in step: the job's tube's heaps and
 * lists, the reserving connection's list, and the global and per-tube
 * counters. These are the queue's primitive moves; they never hand jobs to
 * waiting connections or touch the journal (queue.ts decides when to).
 */

import type { Clock } from "./clock.ts";
import type { Conn } from "./conn.ts";
import type { QueueCounters } from "./counters.ts";
import { JobState, type JobStore, NONE } from "./jobs.ts";
import type { Tube } from "./tube.ts";
import type { TubeRegistry } from "./tube-registry.ts";

/** Jobs with a priority below this are "urgent" in stats. */
export const URGENT_THRESHOLD = 1024;

export class JobStates {
  constructor(
    private readonly store: JobStore,
    private readonly tubes: TubeRegistry,
    private readonly n: QueueCounters,
    private readonly clock: Clock,
  ) {}

  tubeOf(slot: number): Tube {
    return this.tubes.at(this.store.tube[slot]!);
  }

  /** Into the ready heap, or with delayMs > 0 the delay heap (deadline now + delayMs). */
  place(j: number, delayMs: number): void {
    const s = this.store;
    const t = this.tubeOf(j);
    s.reserver[j] = null;
    if (delayMs > 0) {
      s.deadline[j] = this.clock.now() + delayMs;
      s.state[j] = JobState.Delayed;
      t.delay.push(j);
      this.n.delayed++;
    } else {
      s.state[j] = JobState.Ready;
      t.ready.push(j);
      this.n.ready++;
      if (s.pri[j]! < URGENT_THRESHOLD) {
        this.n.urgent++;
        t.urgent++;
      }
    }
  }

  bury(j: number): void {
    const s = this.store;
    this.tubeOf(j).buried.insert(s, j);
    this.n.buried++;
    s.state[j] = JobState.Buried;
    s.reserver[j] = null;
    s.buries[j]!++;
  }

  /** Takes j out of whichever of ready, buried or delayed it is in; false if it is in none. */
  unplace(j: number): boolean {
    switch (this.store.state[j]) {
      case JobState.Ready:
        return this.removeReady(j);
      case JobState.Buried:
        return this.removeBuried(j);
      case JobState.Delayed:
        return this.removeDelayed(j);
      default:
        return false;
    }
  }

  removeReady(j: number): boolean {
    const s = this.store;
    if (s.state[j] !== JobState.Ready) return false;
    const t = this.tubeOf(j);
    t.ready.removeAt(s.heapPos[j]!);
    this.n.ready--;
    if (s.pri[j]! < URGENT_THRESHOLD) {
      this.n.urgent--;
      t.urgent--;
    }
    return true;
  }

  removeBuried(j: number): boolean {
    if (this.store.state[j] !== JobState.Buried) return false;
    this.tubeOf(j).buried.remove(this.store, j);
    this.n.buried--;
    return true;
  }

  removeDelayed(j: number): boolean {
    if (this.store.state[j] !== JobState.Delayed) return false;
    this.tubeOf(j).delay.removeAt(this.store.heapPos[j]!);
    this.n.delayed--;
    return true;
  }

  isReservedBy(c: Conn, j: number): boolean {
    return j !== NONE && this.store.state[j] === JobState.Reserved && this.store.reserver[j] === c;
  }

  /** Reserves j (already out of its heap or list) for c, with a fresh TTR deadline. */
  reserve(c: Conn, j: number): void {
    const s = this.store;
    this.tubeOf(j).reserved++;
    this.n.reserved++;
    s.reserves[j]!++;
    s.deadline[j] = this.clock.now() + s.ttr[j]! * 1000;
    s.state[j] = JobState.Reserved;
    c.reserved.insert(s, j);
    s.reserver[j] = c;
    c.waitUntil = Infinity;
    if (c.soonest === NONE || s.deadline[j]! < s.deadline[c.soonest]!) c.soonest = j;
  }

  unreserve(c: Conn, j: number): void {
    c.reserved.remove(this.store, j);
    this.n.reserved--;
    this.tubeOf(j).reserved--;
    this.store.reserver[j] = null;
    c.soonest = NONE;
  }

  /** The reserved job of c with the earliest deadline (cached in c.soonest), or NONE. */
  soonest(c: Conn): number {
    if (c.soonest !== NONE) return c.soonest;
    const s = this.store;
    for (let j = c.reserved.head; j !== NONE; j = s.next[j]!) {
      if (c.soonest === NONE || s.deadline[j]! < s.deadline[c.soonest]!) c.soonest = j;
    }
    return c.soonest;
  }
}
