/**
 * How jobs reach connections: a job entering ready or delayed (and the log,
 * when its state must be recorded first), waiting connections served in
 * beanstalkd's order, and the reserve commands themselves.
 *
 * Contracts:
 * - Whenever a job becomes ready, waiting connections are served before the
 *   call returns (`enqueue` ends with `serveWaiting`), so no job sits ready
 *   while a connection that watches its tube waits.
 * - A job is handed over only through `ConnEvents.reserved`, synchronously,
 *   after its reservation (and the connection's timer) are in place.
 * - The queue's listener hears of every job that becomes ready at once (not
 *   of delayed ones until their delay ends: timeouts.ts calls `enqueue`).
 *
 * Queue (queue.ts) owns one and forwards to it; it is a part of the queue,
 * not an API of its own. It builds the queue's timer (timeouts.ts), which
 * hands jobs back through `enqueue` and `serveWaiting`.
 */

import type { Clock } from "./clock.ts";
import type { Conn } from "./conn.ts";
import { type QueueCounters, Result } from "./counters.ts";
import { JobState, type JobStore, NONE } from "./jobs.ts";
import type { Journal } from "./journal.ts";
import type { JobStates } from "./states.ts";
import { Timeouts } from "./timeouts.ts";
import type { TubeRegistry } from "./tube-registry.ts";
import type { Waiting } from "./waiting.ts";

/** Told when a job becomes ready in a tube (see QueueListener in queue.ts). */
export interface ReadyListener {
  jobReady(tube: string, ready: number): void;
}

export class Reserving {
  listener: ReadyListener | null = null;
  /** The queue's one timer; it hands jobs back through enqueue and serveWaiting. */
  readonly timeouts: Timeouts;

  constructor(
    private readonly store: JobStore,
    private readonly n: QueueCounters,
    registry: TubeRegistry,
    private readonly states: JobStates,
    private readonly waiters: Waiting,
    private readonly journal: Journal,
    private readonly clock: Clock,
  ) {
    this.timeouts = new Timeouts(store, n, registry, states, waiters, clock, {
      makeReady: (j) => this.enqueue(j, 0),
      serveWaiting: () => this.serveWaiting(),
    });
  }

  /** Puts a job into its tube's ready or delay heap, then serves waiting connections. */
  enqueue(j: number, delayMs: number): void {
    this.states.place(j, delayMs);
    if (delayMs > 0) this.timeouts.at(this.store.deadline[j]!);
    else if (this.listener !== null) {
      const t = this.states.tubeOf(j);
      this.listener.jobReady(t.name, t.ready.length);
    }
    this.serveWaiting();
  }

  /** enqueue, with the new state written to the journal before anyone can reserve the job. */
  enqueueLogged(j: number, delayMs: number): void {
    const s = this.store;
    s.reserver[j] = null;
    // Record the state the job is about to enter, so the log never lags the heaps.
    s.state[j] = delayMs > 0 ? JobState.Delayed : JobState.Ready;
    if (delayMs > 0) s.deadline[j] = this.clock.now() + delayMs;
    this.journal.write(j);
    this.enqueue(j, delayMs);
  }

  /** A reservation of c ends without a command (disconnect, TTR): the job goes back to ready. */
  requeue(c: Conn, j: number): void {
    this.states.unreserve(c, j);
    this.enqueue(j, 0);
  }

  /** Hands ready jobs to waiting connections while both exist. */
  serveWaiting(): void {
    if (this.n.waiting === 0) return;
    for (;;) {
      const j = this.waiters.bestJob();
      if (j === NONE) return;
      const t = this.states.tubeOf(j);
      this.states.removeReady(j);
      const c = t.waiting.take()!;
      this.waiters.remove(c);
      this.deliver(c, j);
    }
  }

  /**
   * reserve / reserve-with-timeout. `timeout` is in seconds; negative waits
   * forever. Ok: a job was delivered before this returned. Waiting: the
   * outcome comes later through ConnEvents. DeadlineSoon: nothing happened.
   */
  reserve(c: Conn, timeout: number): Result {
    this.setWorker(c);
    if (this.timeouts.deadlineSoon(c) && !this.hasReadyWatched(c)) return Result.DeadlineSoon;
    if (this.n.waiting === 0 && c.watch.length === 1) {
      // The common case, served directly: nobody else waits and the one
      // watched tube has a ready job, so serveWaiting would hand c exactly
      // that tube's best job. Same outcome, same waiting-list cursor.
      const t = c.watch.items[0]!;
      const j = t.ready.peek();
      if (j !== undefined && !t.pause) {
        this.states.removeReady(j);
        t.waiting.passThrough();
        this.deliver(c, j);
        return Result.Ok;
      }
    }
    this.waiters.add(c);
    c.waitUntil = timeout < 0 ? Infinity : this.clock.now() + timeout * 1000;
    this.timeouts.sched(c);
    this.serveWaiting();
    return c.waiting ? Result.Waiting : Result.Ok;
  }

  /** reserve-job: reserves a ready, delayed or buried job by id (delivered through ConnEvents). */
  reserveJob(c: Conn, id: number): Result {
    const j = this.store.find(id);
    if (j === NONE || !this.states.unplace(j)) return Result.NotFound;
    this.setWorker(c);
    this.deliver(c, j);
    return Result.Ok;
  }

  /** A waiting connection's peer half-closed: end the wait with TIMED_OUT, as beanstalkd does. */
  hangUp(c: Conn): void {
    if (c.waiting) this.timeouts.endWait(c).timedOut();
  }

  private deliver(c: Conn, j: number): void {
    this.states.reserve(c, j);
    this.timeouts.sched(c);
    c.events.reserved(j);
  }

  private hasReadyWatched(c: Conn): boolean {
    for (const t of c.watch.items) if (t.ready.length) return true;
    return false;
  }

  private setWorker(c: Conn): void {
    if (c.isWorker) return;
    c.isWorker = true;
    this.n.workers++;
  }
}
