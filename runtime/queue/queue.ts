/**
 * The queue state machine: jobs, tubes, connections' reservations and the
 * timers that move jobs between states. It is plain TypeScript with no
 * runtime API (time and timers come in through `Clock`), so it runs under any
 * runtime and can be tested directly with a manual clock.
 *
 * The rules follow beanstalkd's prot.c closely, including the order in which
 * things happen where clients can observe it (which waiting connection gets a
 * job, when counters move, when a tube disappears).
 *
 * Contracts:
 * - Every method that can hand a job to a connection does so through
 *   `ConnEvents.reserved` before it returns (synchronously); outcomes are
 *   reported as a `Result` (counters.ts), counts as numbers.
 * - Jobs are named by slot numbers into `store`; a slot is only valid while
 *   its job lives (see JobStore).
 * - Readers get `counters` read-only; the only state outsiders change is
 *   through methods (`drain`, `continueIdsFrom`, `restore`).
 *
 * Helpers: tube-registry.ts (tubes by name and index, reference counts),
 * states.ts (moves between ready/delayed/buried/reserved with the counters),
 * reserving.ts (jobs entering ready or delayed, waiting connections served,
 * reserve), waiting.ts (connections waiting in a reserve), timeouts.ts
 * (everything time does, on clock.ts's one timer).
 */

import { type Clock, systemClock } from "./clock.ts";
import { Conn, type ConnEvents } from "./conn.ts";
import { newCounters, type QueueCounters, Result } from "./counters.ts";
import { JobState, JobStore, NONE } from "./jobs.ts";
import { type Journal, nullJournal } from "./journal.ts";
import { Reserving } from "./reserving.ts";
import { fillRestored, type RestoredJob } from "./restore.ts";
import { JobStates } from "./states.ts";
import type { Timeouts } from "./timeouts.ts";
import type { Tube } from "./tube.ts";
import { TubeRegistry } from "./tube-registry.ts";
import { Waiting } from "./waiting.ts";

export { type Clock, systemClock } from "./clock.ts";
export { type QueueCounters, Result } from "./counters.ts";
export type { RestoredJob } from "./restore.ts";
export { URGENT_THRESHOLD } from "./states.ts";

export { SAFETY_MARGIN_MS } from "./timeouts.ts";

export interface QueueOptions {
  maxJobSize?: number;
  clock?: Clock;
  journal?: Journal;
}

/**
 * What the queue tells an embedding process (the job runner) as it happens,
 * so it can react to work arriving without polling. Called synchronously,
 * inside the state change: a listener must only note the fact and return.
 */
export interface QueueListener {
  /** A job became ready in this tube (put, release, delay ended, kick, reservation timed out or dropped); `ready` counts its ready jobs now. */
  jobReady(tube: string, ready: number): void;
}

export class Queue {
  readonly store = new JobStore();
  readonly clock: Clock;
  readonly journal: Journal;
  readonly maxJobSize: number;
  readonly startedAt: number;
  readonly defaultTube: Tube;

  private readonly n: QueueCounters = newCounters();
  private readonly registry: TubeRegistry;
  private readonly states: JobStates;
  private readonly waiters: Waiting;
  private readonly timeouts: Timeouts;
  private readonly reserving: Reserving;
  private next = 1;
  private drainingNow = false;

  constructor(opts: QueueOptions = {}) {
    this.maxJobSize = opts.maxJobSize ?? 65535;
    this.clock = opts.clock ?? systemClock;
    this.journal = opts.journal ?? nullJournal;
    this.startedAt = this.clock.now();
    this.waiters = new Waiting(this.store, this.n, this.clock);
    this.registry = new TubeRegistry(this.store, (t) => this.waiters.forget(t));
    this.states = new JobStates(this.store, this.registry, this.n, this.clock);
    this.reserving = new Reserving(this.store, this.n, this.registry, this.states, this.waiters, this.journal, this.clock);
    this.timeouts = this.reserving.timeouts;
    this.defaultTube = this.registry.findOrMake("default");
    this.registry.ref(this.defaultTube); // the default tube never goes away
  }

  /** Sets (or with null, removes) the one listener told about state changes. */
  listen(l: QueueListener | null): void {
    this.reserving.listener = l;
  }

  // ---- what readers see ----------------------------------------------------

  /** Ready jobs in the tube named `name` (0 when it does not exist). */
  readyIn(name: string): number {
    return this.registry.find(name)?.ready.length ?? 0;
  }

  /** Global counts for stats, snapshots and metrics (live, read-only). */
  get counters(): Readonly<QueueCounters> {
    return this.n;
  }

  /** All tubes, in beanstalkd's order (what list-tubes reports). */
  get tubes(): readonly Tube[] {
    return this.registry.list.items;
  }

  /** The id the next put will get. */
  get nextId(): number {
    return this.next;
  }

  get draining(): boolean {
    return this.drainingNow;
  }

  /** Drain mode (SIGUSR1): from now on puts are refused with DRAINING. */
  drain(): void {
    this.drainingNow = true;
  }

  /** Ids handed out from now on are at least `next` (recovery: ids seen in the log are never given again). */
  continueIdsFrom(next: number): void {
    if (next > this.next) this.next = next;
  }

  findTube(name: string): Tube | undefined {
    return this.registry.find(name);
  }

  tubeOf(slot: number): Tube {
    return this.states.tubeOf(slot);
  }

  /** A live job by id for peek and stats-job (NONE if absent). */
  find(id: number): number {
    return this.store.find(id);
  }

  // ---- connections ---------------------------------------------------------

  connect(events: ConnEvents): Conn {
    const c = new Conn(events, this.defaultTube, this.registry.watchList(this.defaultTube));
    this.registry.enter(c);
    this.n.connections++;
    this.n.totalConnections++;
    return c;
  }

  /** The connection is gone: its reserved jobs go back to ready. */
  disconnect(c: Conn): void {
    if (c.closed) return;
    c.closed = true;
    if (c.isProducer) this.n.producers--;
    if (c.isWorker) this.n.workers--;
    this.n.connections--;
    this.waiters.remove(c);
    while (c.reserved.count) this.reserving.requeue(c, c.reserved.head);
    this.registry.leave(c);
    this.timeouts.forget(c);
  }

  setProducer(c: Conn): void {
    if (c.isProducer) return;
    c.isProducer = true;
    this.n.producers++;
  }

  use(c: Conn, name: string): void {
    this.registry.use(c, name);
  }

  watch(c: Conn, name: string): void {
    this.registry.watch(c, name);
  }

  /** NotIgnored for the last watched tube; c.watch.length is the new count. */
  ignore(c: Conn, name: string): Result {
    return this.registry.ignore(c, name) ? Result.Ok : Result.NotIgnored;
  }

  // ---- job lifecycle -------------------------------------------------------

  /**
   * Starts a put: allocates the job (and its id) in the connection's tube.
   * The caller fills the body (`store.bodyBuffer/bodyOffset`), then calls
   * `commitPut` (or `discard` if the connection drops first).
   */
  beginPut(c: Conn, pri: number, delay: number, ttr: number, bodySize: number): number {
    const s = this.store;
    const slot = s.alloc(this.next++, bodySize);
    s.pri[slot] = pri;
    s.delay[slot] = delay;
    s.ttr[slot] = Math.max(ttr, 1);
    s.created[slot] = this.clock.now();
    s.tube[slot] = c.use.index;
    this.registry.ref(c.use);
    return slot;
  }

  /** Ok, ExpectedCrlf, Draining or OutOfMemory (the job is discarded unless Ok). */
  commitPut(slot: number): Result {
    const s = this.store;
    const end = s.bodyOffset(slot) + s.size[slot]!;
    const buf = s.bodyBuffer(slot);
    let r = Result.Ok;
    if (buf[end - 2] !== 13 || buf[end - 1] !== 10) r = Result.ExpectedCrlf;
    else if (this.drainingNow) r = Result.Draining;
    else if (!this.journal.reservePut(slot)) r = Result.OutOfMemory;
    if (r !== Result.Ok) {
      this.discard(slot);
      return r;
    }
    this.reserving.enqueueLogged(slot, s.delay[slot]! * 1000);
    this.n.totalJobs++;
    this.tubeOf(slot).totalJobs++;
    return Result.Ok;
  }

  /** Frees a job that never entered the queue, or has left it. */
  discard(slot: number): void {
    const t = this.tubeOf(slot);
    this.store.free(slot);
    this.registry.unref(t);
  }

  // ---- reserving -----------------------------------------------------------

  /**
   * reserve / reserve-with-timeout. `timeout` is in seconds; negative waits
   * forever. Ok: a job was delivered before this returned. Waiting: the
   * outcome comes later through ConnEvents. DeadlineSoon: nothing happened.
   */
  reserve(c: Conn, timeout: number): Result {
    return this.reserving.reserve(c, timeout);
  }

  /** reserve-job: reserves a ready, delayed or buried job by id (delivered through ConnEvents). */
  reserveJob(c: Conn, id: number): Result {
    return this.reserving.reserveJob(c, id);
  }

  /** A waiting connection's peer half-closed: end the wait with TIMED_OUT, as beanstalkd does. */
  hangUp(c: Conn): void {
    this.reserving.hangUp(c);
  }

  // ---- commands on jobs ----------------------------------------------------

  delete(c: Conn, id: number): Result {
    const j = this.store.find(id);
    if (j === NONE) return Result.NotFound;
    if (this.states.isReservedBy(c, j)) {
      this.states.unreserve(c, j);
      this.timeouts.sched(c);
    } else if (!this.states.unplace(j)) {
      return Result.NotFound;
    }
    this.tubeOf(j).deletes++;
    this.store.state[j] = JobState.Invalid;
    this.journal.delete(j);
    this.discard(j);
    return Result.Ok;
  }

  /** Ok, NotFound, or OutOfMemory when the log has no room. */
  release(c: Conn, id: number, pri: number, delay: number): Result {
    const j = this.store.find(id);
    if (!this.states.isReservedBy(c, j)) return Result.NotFound;
    if (delay && !this.journal.reserveUpdate(j)) return Result.OutOfMemory;
    this.states.unreserve(c, j);
    const s = this.store;
    s.pri[j] = pri;
    s.delay[j] = delay;
    s.releases[j]!++;
    if (delay) this.reserving.enqueueLogged(j, delay * 1000);
    else this.reserving.enqueue(j, 0);
    this.timeouts.sched(c);
    return Result.Ok;
  }

  bury(c: Conn, id: number, pri: number): Result {
    const j = this.store.find(id);
    if (!this.states.isReservedBy(c, j)) return Result.NotFound;
    if (!this.journal.reserveUpdate(j)) return Result.OutOfMemory;
    this.states.unreserve(c, j);
    this.store.pri[j] = pri;
    this.states.bury(j);
    this.journal.write(j);
    this.timeouts.sched(c);
    return Result.Ok;
  }

  touch(c: Conn, id: number): Result {
    const j = this.store.find(id);
    if (!this.states.isReservedBy(c, j)) return Result.NotFound;
    this.store.deadline[j] = this.clock.now() + this.store.ttr[j]! * 1000;
    c.soonest = NONE;
    this.timeouts.sched(c);
    return Result.Ok;
  }

  /** A buried or delayed job back to ready; false when the log has no room. */
  private kickOne(j: number): boolean {
    if (!this.journal.reserveUpdate(j)) return false;
    this.states.unplace(j);
    this.store.kicks[j]!++;
    this.reserving.enqueueLogged(j, 0);
    return true;
  }

  /** kick: buried jobs of the used tube if it has any, else delayed ones. Returns how many. */
  kick(c: Conn, n: number): number {
    const t = c.use;
    let i = 0;
    if (t.buried.count) {
      for (; i < n && t.buried.count; i++) if (!this.kickOne(t.buried.head)) break;
    } else {
      for (; i < n && t.delay.length; i++) if (!this.kickOne(t.delay.peek()!)) break;
    }
    return i;
  }

  /** Ok, or NotFound: no such job, not buried or delayed, or (as in beanstalkd) no room in the log. */
  kickJob(id: number): Result {
    const j = this.store.find(id);
    if (j === NONE) return Result.NotFound;
    const st = this.store.state[j];
    if (st !== JobState.Buried && st !== JobState.Delayed) return Result.NotFound;
    return this.kickOne(j) ? Result.Ok : Result.NotFound;
  }

  pauseTube(t: Tube, seconds: number): void {
    // Always pause for a positive time, so waiting clients wake when it ends.
    const ms = seconds ? seconds * 1000 : 1e-6;
    t.unpauseAt = this.clock.now() + ms;
    t.pause = ms;
    t.pauses++;
    this.timeouts.at(t.unpauseAt);
  }

  // ---- recovery ------------------------------------------------------------

  /** Re-creates a job read back from the log (reserved jobs come back ready). */
  restore(r: RestoredJob): number {
    const t = this.registry.findOrMake(r.tube);
    const slot = this.store.alloc(r.id, r.body.length + 2);
    fillRestored(this.store, slot, r, t.index, this.clock.now());
    this.registry.ref(t);
    this.continueIdsFrom(r.id + 1);
    this.n.totalJobs++;
    t.totalJobs++;
    if (r.state === JobState.Buried) {
      this.states.bury(slot);
      this.store.buries[slot] = r.buries; // bury() counts a bury; this one is only restored
    } else {
      this.reserving.enqueue(slot, r.state === JobState.Delayed ? Math.max(0, r.delayLeftMs ?? 0) : 0);
    }
    return slot;
  }

  /** Runs what is due now (the timer does this by itself; tests with a manual clock may call it). */
  tick(): void {
    this.timeouts.tick();
  }

  /** Stops the timer (for shutdown). */
  stop(): void {
    this.timeouts.stop();
  }
}
