/**
 * Everything the queue does because time passed, on one timer (clock.ts's
 * Alarm): delayed jobs becoming ready, pauses ending, reservations running
 * past their TTR, and waiting reserves timing out or cut short by
 * DEADLINE_SOON. Connections are kept in a heap by when they next need
 * attention (beanstalkd's connsched/conn_timeout), so a tick looks only at
 * what is due, never at every job.
 *
 * The queue tells it when a connection's reservations or wait changed
 * (`sched`) and when something has a deadline (`at`); it hands jobs back to
 * the queue through `QueueHooks`, so waiting connections are served in the
 * queue's order.
 */

import { Alarm, type Clock } from "./clock.ts";
import type { Conn, ConnEvents } from "./conn.ts";
import type { QueueCounters } from "./counters.ts";
import { Heap } from "./heap.ts";
import { type JobStore, NONE } from "./jobs.ts";
import type { JobStates } from "./states.ts";
import type { TubeRegistry } from "./tube-registry.ts";
import type { Waiting } from "./waiting.ts";

/** A reservation this close to its deadline makes a reserve return DEADLINE_SOON. */
export const SAFETY_MARGIN_MS = 1000;

export interface QueueHooks {
  /** Puts job j (out of every heap and list) into ready and serves waiting connections. */
  makeReady(j: number): void;
  /** Hands ready jobs to waiting connections (after a pause ended). */
  serveWaiting(): void;
}

export class Timeouts {
  /** Connections ordered by when they next need a timeout check. */
  private readonly conns = new Heap<Conn>(
    (a, b) => a.tickAt < b.tickAt,
    (c, pos) => {
      c.tickPos = pos;
    },
  );
  private readonly alarm: Alarm;

  constructor(
    private readonly store: JobStore,
    private readonly n: QueueCounters,
    private readonly tubes: TubeRegistry,
    private readonly states: JobStates,
    private readonly waiters: Waiting,
    private readonly clock: Clock,
    private readonly hooks: QueueHooks,
  ) {
    this.alarm = new Alarm(clock, () => this.tick());
  }

  /** Something is due at `at` (a delayed job, a pause's end): make sure a tick comes by then. */
  at(at: number): void {
    this.alarm.schedule(at);
  }

  /** True when c holds a reservation inside the safety margin. `now` is read only if needed. */
  deadlineSoon(c: Conn, now?: number): boolean {
    const j = this.states.soonest(c);
    return j !== NONE && (now ?? this.clock.now()) >= this.store.deadline[j]! - SAFETY_MARGIN_MS;
  }

  /** Recomputes when connection c next needs a timeout check (beanstalkd's connsched). */
  sched(c: Conn): void {
    if (c.tickPos >= 0) this.conns.removeAt(c.tickPos);
    if (c.closed) return;
    let t = Infinity;
    if (c.reserved.count) {
      const margin = c.waiting ? SAFETY_MARGIN_MS : 0;
      t = this.store.deadline[this.states.soonest(c)]! - margin;
    }
    if (c.waiting) t = Math.min(t, c.waitUntil);
    c.tickAt = t;
    if (t !== Infinity) {
      this.conns.push(c);
      this.alarm.schedule(t);
    }
  }

  /** c left: forget it. */
  forget(c: Conn): void {
    if (c.tickPos >= 0) this.conns.removeAt(c.tickPos);
  }

  /** Ends c's wait (it must be waiting) and returns its events, to say how it ended. */
  endWait(c: Conn): ConnEvents {
    c.waitUntil = Infinity;
    this.waiters.remove(c);
    this.sched(c);
    return c.events;
  }

  /** Moves due delayed jobs to ready, ends pauses, and times out reservations and waits. */
  tick(): void {
    const now = this.clock.now();
    const next = Math.min(this.tickDelayed(now), this.tickPauses(now), this.tickConns(this.clock.now()));
    if (next !== Infinity) this.alarm.schedule(next);
  }

  stop(): void {
    this.alarm.stop();
  }

  /** Due delayed jobs become ready; returns the next delay deadline. */
  private tickDelayed(now: number): number {
    const s = this.store;
    for (;;) {
      // The soonest delayed job across tubes; a scan of tubes, not of jobs.
      let j = NONE;
      for (const t of this.tubes.list.items) {
        const d = t.delay.peek();
        if (d !== undefined && (j === NONE || s.deadline[d]! < s.deadline[j]!)) j = d;
      }
      if (j === NONE) return Infinity;
      if (s.deadline[j]! > now) return s.deadline[j]!;
      this.states.removeDelayed(j);
      this.hooks.makeReady(j);
    }
  }

  /** Ends pauses that are over; returns the next pause end. */
  private tickPauses(now: number): number {
    let next = Infinity;
    for (const t of this.tubes.list.items) {
      if (t.pause && t.unpauseAt <= now) {
        t.pause = 0;
        this.hooks.serveWaiting();
      } else if (t.unpauseAt > now) {
        next = Math.min(next, t.unpauseAt);
      }
    }
    return next;
  }

  /** Connections whose tick came; returns the next one's. */
  private tickConns(now: number): number {
    for (;;) {
      const c = this.conns.peek();
      if (!c) return Infinity;
      if (c.tickAt > now) return c.tickAt;
      this.conns.pop();
      this.connTimeout(c, now);
    }
  }

  /**
   * A connection's tick came: expire its reservations, end its wait
   * (beanstalkd's conn_timeout). A reservation expires once its deadline is
   * reached (beanstalkd waits until it is passed, re-reading its clock; with
   * `now` fixed for the whole tick, "passed" would put c straight back at
   * the top of the heap at now == deadline and tickConns would never end).
   */
  private connTimeout(c: Conn, now: number): void {
    const s = this.store;
    const soon = c.waiting && this.deadlineSoon(c, now);
    for (;;) {
      const j = this.states.soonest(c);
      if (j === NONE || s.deadline[j]! > now) break;
      this.n.timeouts++;
      s.timeouts[j]!++;
      this.states.unreserve(c, j);
      this.hooks.makeReady(j);
    }
    if (soon) this.endWait(c).deadlineSoon();
    else if (c.waiting && c.waitUntil <= now) this.endWait(c).timedOut();
    else this.sched(c);
  }
}
