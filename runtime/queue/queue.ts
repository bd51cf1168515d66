/**
 * The queue state machine: jobs, tubes, connections' reservations and the
 * timers that move jobs between states. It is plain TypeScript with no
 * runtime API (time and timers come in through `Clock`), so it runs under any
 * runtime and can be tested directly.
 *
 * The rules follow beanstalkd's prot.c closely, including the order in which
 * things happen where clients can observe it (which waiting connection gets a
 * job, when counters move, when a tube disappears).
 *
 * Contracts:
 * - Every method that can hand a job to a waiting connection does so through
 *   `ConnEvents.reserved` before it returns (synchronously).
 * - Jobs are named by slot numbers into `store`; a slot is only valid while
 *   its job lives (see JobStore).
 */
import { Heap } from "./heap.ts";
import { JobState, JobStore, NONE } from "./jobs.ts";
import { Ms } from "./ms.ts";
import { Tube } from "./tube.ts";
import { Conn, type ConnEvents } from "./conn.ts";
import { nullJournal, type Journal } from "./journal.ts";

/** Jobs with a priority below this are "urgent" in stats. */
export const URGENT_THRESHOLD = 1024;
/** A reservation this close to its deadline makes a reserve return DEADLINE_SOON. */
export const SAFETY_MARGIN_MS = 1000;
const MAX_TIMER_MS = 3_600_000;

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export const enum PutResult {
  Inserted = 0,
  ExpectedCrlf = 1,
  Draining = 2,
  OutOfMemory = 3,
}

export const enum ReserveResult {
  /** The connection now waits; the outcome arrives through ConnEvents. */
  Waiting = 0,
  DeadlineSoon = 1,
}

/** A job as recovered from persistent storage. */
export interface RestoredJob {
  id: number;
  tube: string;
  pri: number;
  /** Seconds, as last set by put or release. */
  delay: number;
  ttr: number;
  state: JobState.Ready | JobState.Delayed | JobState.Buried;
  /** For delayed jobs: milliseconds of delay still to run. */
  delayLeftMs?: number;
  /** Milliseconds since the job was created. */
  ageMs: number;
  reserves: number;
  timeouts: number;
  releases: number;
  buries: number;
  kicks: number;
  /** Body bytes without the trailing "\r\n". */
  body: Uint8Array;
}

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
  /** All tubes, in beanstalkd's order (what list-tubes reports). */
  readonly tubes = new Ms<Tube>();
  private readonly byName = new Map<string, Tube>();
  /** Tubes by registry index, the number each job stores. */
  private readonly registry: (Tube | undefined)[] = [];
  private readonly freeIndexes: number[] = [];
  /** Tubes that have waiting connections: the only ones process_queue must look at. */
  private readonly waitingTubes = new Set<Tube>();
  /** Connections ordered by when they next need a timeout check. */
  private readonly conns = new Heap<Conn>(
    (a, b) => a.tickAt < b.tickAt,
    (c, pos) => {
      c.tickPos = pos;
    },
  );
  readonly defaultTube: Tube;
  readonly clock: Clock;
  journal: Journal;
  maxJobSize: number;
  readonly startedAt: number;

  nextId = 1;
  draining = false;

  // Global counters reported by stats.
  readyCount = 0;
  urgentCount = 0;
  reservedCount = 0;
  buriedCount = 0;
  waitingCount = 0;
  totalJobs = 0;
  timeoutCount = 0;
  connCount = 0;
  producerCount = 0;
  workerCount = 0;
  totalConns = 0;

  private timer: unknown = null;
  private timerAt = Infinity;
  private listener: QueueListener | null = null;

  constructor(opts: QueueOptions = {}) {
    this.maxJobSize = opts.maxJobSize ?? 65535;
    this.clock = opts.clock ?? systemClock;
    this.journal = opts.journal ?? nullJournal;
    this.startedAt = this.clock.now();
    this.defaultTube = this.findOrMakeTube("default");
    this.tubeRef(this.defaultTube); // the default tube never goes away
  }

  /** Sets (or with null, removes) the one listener told about state changes. */
  listen(l: QueueListener | null): void {
    this.listener = l;
  }

  /** Ready jobs in the tube named `name` (0 when it does not exist). */
  readyIn(name: string): number {
    return this.byName.get(name)?.ready.length ?? 0;
  }

  // ---- tubes ---------------------------------------------------------------

  findTube(name: string): Tube | undefined {
    return this.byName.get(name);
  }

  tubeOf(slot: number): Tube {
    return this.registry[this.store.tube[slot]!]!;
  }

  findOrMakeTube(name: string): Tube {
    let t = this.byName.get(name);
    if (t) return t;
    t = new Tube(name, this.store);
    t.index = this.freeIndexes.length ? this.freeIndexes.pop()! : this.registry.length;
    this.registry[t.index] = t;
    this.byName.set(name, t);
    this.tubes.append(t);
    return t;
  }

  tubeRef(t: Tube): void {
    t.refs++;
  }

  tubeUnref(t: Tube): void {
    if (--t.refs > 0) return;
    this.tubes.remove(t);
    this.byName.delete(t.name);
    this.registry[t.index] = undefined;
    this.freeIndexes.push(t.index);
    this.waitingTubes.delete(t);
  }

  delayedCount(): number {
    let n = 0;
    for (const t of this.tubes.items) n += t.delay.length;
    return n;
  }

  // ---- connections ---------------------------------------------------------

  connect(events: ConnEvents): Conn {
    const watch = new Ms<Tube>(
      (t) => {
        this.tubeRef(t);
        t.watching++;
      },
      (t) => {
        t.watching--;
        this.tubeUnref(t);
      },
    );
    const c = new Conn(events, this.defaultTube, watch);
    this.tubeRef(this.defaultTube);
    this.defaultTube.using++;
    watch.append(this.defaultTube);
    this.connCount++;
    this.totalConns++;
    return c;
  }

  /** The connection is gone: its reserved jobs go back to ready. */
  disconnect(c: Conn): void {
    if (c.closed) return;
    c.closed = true;
    if (c.isProducer) this.producerCount--;
    if (c.isWorker) this.workerCount--;
    this.connCount--;
    this.removeWaiting(c);
    const store = this.store;
    while (c.reserved.count) {
      const j = c.reserved.head;
      c.reserved.remove(store, j);
      const t = this.tubeOf(j);
      this.enqueue(j, 0);
      this.reservedCount--;
      t.reserved--;
      c.soonest = NONE;
    }
    c.watch.clear();
    c.use.using--;
    this.tubeUnref(c.use);
    if (c.tickPos >= 0) this.conns.removeAt(c.tickPos);
  }

  setProducer(c: Conn): void {
    if (c.isProducer) return;
    c.isProducer = true;
    this.producerCount++;
  }

  setWorker(c: Conn): void {
    if (c.isWorker) return;
    c.isWorker = true;
    this.workerCount++;
  }

  use(c: Conn, name: string): void {
    const t = this.findOrMakeTube(name);
    this.tubeRef(t);
    c.use.using--;
    const old = c.use;
    c.use = t;
    t.using++;
    this.tubeUnref(old);
  }

  /** Returns the number of watched tubes. */
  watch(c: Conn, name: string): number {
    const t = this.findOrMakeTube(name);
    this.tubeRef(t);
    if (!c.watch.contains(t)) c.watch.append(t);
    this.tubeUnref(t);
    return c.watch.length;
  }

  /** Returns the number of watched tubes, or -1 (NOT_IGNORED) for the last one. */
  ignore(c: Conn, name: string): number {
    const t = c.watch.items.find((x) => x.name === name);
    if (t && c.watch.length < 2) return -1;
    if (t) c.watch.remove(t);
    return c.watch.length;
  }

  // ---- job lifecycle -------------------------------------------------------

  /**
   * Starts a put: allocates the job (and its id) in the connection's tube.
   * The caller fills `store.bodyOf(slot)`, then calls `commitPut` (or
   * `discard` if the connection drops first).
   */
  beginPut(c: Conn, pri: number, delay: number, ttr: number, bodySize: number): number {
    const slot = this.store.alloc(this.nextId++, bodySize);
    const s = this.store;
    s.pri[slot] = pri;
    s.delay[slot] = delay;
    s.ttr[slot] = ttr < 1 ? 1 : ttr;
    s.created[slot] = this.clock.now();
    s.tube[slot] = c.use.index;
    this.tubeRef(c.use);
    return slot;
  }

  commitPut(slot: number): PutResult {
    const s = this.store;
    const end = s.bodyOffset(slot) + s.size[slot]!;
    const buf = s.bodyBuffer(slot);
    if (buf[end - 2] !== 13 || buf[end - 1] !== 10) {
      this.discard(slot);
      return PutResult.ExpectedCrlf;
    }
    if (this.draining) {
      this.discard(slot);
      return PutResult.Draining;
    }
    if (!this.journal.reservePut(slot)) {
      this.discard(slot);
      return PutResult.OutOfMemory;
    }
    this.enqueueLogged(slot, s.delay[slot]! * 1000);
    this.totalJobs++;
    this.tubeOf(slot).totalJobs++;
    return PutResult.Inserted;
  }

  /** Frees a job that never entered the queue, or has left it. */
  discard(slot: number): void {
    const t = this.tubeOf(slot);
    this.store.free(slot);
    this.tubeUnref(t);
  }

  /** Puts a job into its tube's ready or delay heap, then serves waiting connections. */
  private enqueue(j: number, delayMs: number): void {
    const s = this.store;
    const t = this.tubeOf(j);
    s.reserver[j] = null;
    if (delayMs > 0) {
      const at = this.clock.now() + delayMs;
      s.deadline[j] = at;
      s.state[j] = JobState.Delayed;
      t.delay.push(j);
      this.schedule(at);
    } else {
      s.state[j] = JobState.Ready;
      t.ready.push(j);
      this.readyCount++;
      if (s.pri[j]! < URGENT_THRESHOLD) {
        this.urgentCount++;
        t.urgent++;
      }
      if (this.listener !== null) this.listener.jobReady(t.name, t.ready.length);
    }
    this.processQueue();
  }

  /** enqueue, with the new state written to the journal before anyone can reserve the job. */
  private enqueueLogged(j: number, delayMs: number): void {
    const s = this.store;
    s.reserver[j] = null;
    // Record the state the job is about to enter, so the log never lags the heaps.
    s.state[j] = delayMs > 0 ? JobState.Delayed : JobState.Ready;
    if (delayMs > 0) s.deadline[j] = this.clock.now() + delayMs;
    this.journal.write(j);
    this.enqueue(j, delayMs);
  }

  private buryJob(j: number): void {
    const s = this.store;
    const t = this.tubeOf(j);
    t.buried.insert(s, j);
    this.buriedCount++;
    s.state[j] = JobState.Buried;
    s.reserver[j] = null;
    s.buries[j]!++;
  }

  private removeReady(j: number): boolean {
    const s = this.store;
    if (s.state[j] !== JobState.Ready) return false;
    const t = this.tubeOf(j);
    t.ready.removeAt(s.heapPos[j]!);
    this.readyCount--;
    if (s.pri[j]! < URGENT_THRESHOLD) {
      this.urgentCount--;
      t.urgent--;
    }
    return true;
  }

  private removeBuried(j: number): boolean {
    if (this.store.state[j] !== JobState.Buried) return false;
    this.tubeOf(j).buried.remove(this.store, j);
    this.buriedCount--;
    return true;
  }

  private removeDelayed(j: number): boolean {
    if (this.store.state[j] !== JobState.Delayed) return false;
    this.tubeOf(j).delay.removeAt(this.store.heapPos[j]!);
    return true;
  }

  private isReservedBy(c: Conn, j: number): boolean {
    return j !== NONE && this.store.state[j] === JobState.Reserved && this.store.reserver[j] === c;
  }

  private removeReserved(c: Conn, j: number): void {
    const t = this.tubeOf(j);
    c.reserved.remove(this.store, j);
    this.reservedCount--;
    t.reserved--;
    this.store.reserver[j] = null;
    c.soonest = NONE;
  }

  private reserveFor(c: Conn, j: number): void {
    const s = this.store;
    this.tubeOf(j).reserved++;
    s.reserves[j]!++;
    s.deadline[j] = this.clock.now() + s.ttr[j]! * 1000;
    s.state[j] = JobState.Reserved;
    c.reserved.insert(s, j);
    s.reserver[j] = c;
    c.waitUntil = Infinity;
    if (c.soonest === NONE || s.deadline[j]! < s.deadline[c.soonest]!) c.soonest = j;
  }

  // ---- waiting for jobs ----------------------------------------------------

  private addWaiting(c: Conn): void {
    c.waiting = true;
    this.waitingCount++;
    for (const t of c.watch.items) {
      t.waiting.append(c);
      this.waitingTubes.add(t);
    }
  }

  private removeWaiting(c: Conn): void {
    if (!c.waiting) return;
    c.waiting = false;
    this.waitingCount--;
    for (const t of c.watch.items) {
      t.waiting.remove(c);
      if (t.waiting.length === 0) this.waitingTubes.delete(t);
    }
  }

  /** The ready job with the best (priority, id) among unpaused tubes that have waiters. */
  private nextAwaitedJob(): number {
    const s = this.store;
    let best = NONE;
    let now = -1;
    for (const t of this.waitingTubes) {
      if (t.pause) {
        if (now < 0) now = this.clock.now();
        if (t.unpauseAt > now) continue;
        t.pause = 0;
      }
      const j = t.ready.peek();
      if (j === undefined) continue;
      if (best === NONE || s.pri[j]! < s.pri[best]! || (s.pri[j] === s.pri[best] && s.id[j]! < s.id[best]!)) {
        best = j;
      }
    }
    return best;
  }

  /** Hands ready jobs to waiting connections while both exist. */
  private processQueue(): void {
    if (this.waitingCount === 0) return;
    for (;;) {
      const j = this.nextAwaitedJob();
      if (j === NONE) return;
      const t = this.tubeOf(j);
      this.removeReady(j);
      const c = t.waiting.take()!;
      this.reservedCount++;
      this.removeWaiting(c);
      this.reserveFor(c, j);
      this.sched(c);
      c.events.reserved(j);
    }
  }

  private soonestReserved(c: Conn): number {
    if (c.soonest !== NONE) return c.soonest;
    const s = this.store;
    for (let j = c.reserved.head; j !== NONE; j = s.next[j]!) {
      if (c.soonest === NONE || s.deadline[j]! < s.deadline[c.soonest]!) c.soonest = j;
    }
    return c.soonest;
  }

  /** `now` may be omitted: the clock is then read only if c holds a reservation. */
  private deadlineSoon(c: Conn, now?: number): boolean {
    const j = this.soonestReserved(c);
    return j !== NONE && (now ?? this.clock.now()) >= this.store.deadline[j]! - SAFETY_MARGIN_MS;
  }

  private hasReadyWatched(c: Conn): boolean {
    for (const t of c.watch.items) if (t.ready.length) return true;
    return false;
  }

  /**
   * reserve / reserve-with-timeout. `timeout` is in seconds; negative waits
   * forever. A job that is ready now is delivered before this returns.
   */
  reserve(c: Conn, timeout: number): ReserveResult {
    this.setWorker(c);
    if (this.deadlineSoon(c) && !this.hasReadyWatched(c)) return ReserveResult.DeadlineSoon;
    if (this.waitingCount === 0 && c.watch.length === 1) {
      // The common case, served directly: nobody else waits and the one
      // watched tube has a ready job, so processQueue would hand c exactly
      // that tube's best job. Same outcome, same waiting-list cursor.
      const t = c.watch.items[0]!;
      const j = t.ready.peek();
      if (j !== undefined && !t.pause) {
        this.removeReady(j);
        this.reservedCount++;
        t.waiting.passThrough();
        this.reserveFor(c, j);
        this.sched(c);
        c.events.reserved(j);
        return ReserveResult.Waiting;
      }
    }
    this.addWaiting(c);
    c.waitUntil = timeout < 0 ? Infinity : this.clock.now() + timeout * 1000;
    this.sched(c);
    this.processQueue();
    return ReserveResult.Waiting;
  }

  /** reserve-job: reserves a ready, delayed or buried job by id; NONE if there is none. */
  reserveJob(c: Conn, id: number): number {
    const j = this.store.find(id);
    if (j === NONE) return NONE;
    const st = this.store.state[j];
    if (st === JobState.Ready) this.removeReady(j);
    else if (st === JobState.Buried) this.removeBuried(j);
    else if (st === JobState.Delayed) this.removeDelayed(j);
    else return NONE;
    this.setWorker(c);
    this.reservedCount++;
    this.reserveFor(c, j);
    this.sched(c);
    return j;
  }

  // ---- commands on jobs ----------------------------------------------------

  /** Returns false for NOT_FOUND. */
  delete(c: Conn, id: number): boolean {
    const j = this.store.find(id);
    if (j === NONE) return false;
    if (this.isReservedBy(c, j)) {
      this.removeReserved(c, j);
      this.sched(c);
    } else if (!this.removeReady(j) && !this.removeBuried(j) && !this.removeDelayed(j)) {
      return false;
    }
    this.tubeOf(j).deletes++;
    this.store.state[j] = JobState.Invalid;
    this.journal.delete(j);
    this.discard(j);
    return true;
  }

  /** Returns "released", "not-found", or "out-of-memory" when the log has no room. */
  release(c: Conn, id: number, pri: number, delay: number): "released" | "not-found" | "out-of-memory" {
    const j = this.store.find(id);
    if (!this.isReservedBy(c, j)) return "not-found";
    if (delay && !this.journal.reserveUpdate(j)) return "out-of-memory";
    this.removeReserved(c, j);
    const s = this.store;
    s.pri[j] = pri;
    s.delay[j] = delay;
    s.releases[j]!++;
    if (delay) this.enqueueLogged(j, delay * 1000);
    else this.enqueue(j, 0);
    this.sched(c);
    return "released";
  }

  bury(c: Conn, id: number, pri: number): "buried" | "not-found" | "out-of-memory" {
    const j = this.store.find(id);
    if (!this.isReservedBy(c, j)) return "not-found";
    if (!this.journal.reserveUpdate(j)) return "out-of-memory";
    this.removeReserved(c, j);
    this.store.pri[j] = pri;
    this.buryJob(j);
    this.journal.write(j);
    this.sched(c);
    return "buried";
  }

  touch(c: Conn, id: number): boolean {
    const j = this.store.find(id);
    if (!this.isReservedBy(c, j)) return false;
    this.store.deadline[j] = this.clock.now() + this.store.ttr[j]! * 1000;
    c.soonest = NONE;
    this.sched(c);
    return true;
  }

  private kickBuried(j: number): boolean {
    if (!this.journal.reserveUpdate(j)) return false;
    this.removeBuried(j);
    this.store.kicks[j]!++;
    this.enqueueLogged(j, 0);
    return true;
  }

  private kickDelayed(j: number): boolean {
    if (!this.journal.reserveUpdate(j)) return false;
    this.removeDelayed(j);
    this.store.kicks[j]!++;
    this.enqueueLogged(j, 0);
    return true;
  }

  /** kick: buried jobs of the used tube if it has any, else delayed ones. Returns how many. */
  kick(c: Conn, n: number): number {
    const t = c.use;
    let i = 0;
    if (t.buried.count) {
      for (; i < n && t.buried.count; i++) if (!this.kickBuried(t.buried.head)) break;
    } else {
      for (; i < n && t.delay.length; i++) if (!this.kickDelayed(t.delay.peek()!)) break;
    }
    return i;
  }

  kickJob(id: number): boolean {
    const j = this.store.find(id);
    if (j === NONE) return false;
    const st = this.store.state[j];
    if (st === JobState.Buried) return this.kickBuried(j);
    if (st === JobState.Delayed) return this.kickDelayed(j);
    return false;
  }

  /** A live job by id for peek and stats-job (NONE if absent). */
  find(id: number): number {
    return this.store.find(id);
  }

  pauseTube(t: Tube, seconds: number): void {
    // Always pause for a positive time, so waiting clients wake when it ends.
    const ms = seconds ? seconds * 1000 : 1e-6;
    t.unpauseAt = this.clock.now() + ms;
    t.pause = ms;
    t.pauses++;
    this.schedule(t.unpauseAt);
  }

  // ---- recovery ------------------------------------------------------------

  /** Re-creates a job read back from the log (reserved jobs come back ready). */
  restore(r: RestoredJob): number {
    const t = this.findOrMakeTube(r.tube);
    const s = this.store;
    const slot = s.alloc(r.id, r.body.length + 2);
    const body = s.bodyOf(slot);
    body.set(r.body);
    body[r.body.length] = 13;
    body[r.body.length + 1] = 10;
    s.pri[slot] = r.pri;
    s.delay[slot] = r.delay;
    s.ttr[slot] = r.ttr < 1 ? 1 : r.ttr;
    s.created[slot] = this.clock.now() - r.ageMs;
    s.tube[slot] = t.index;
    s.reserves[slot] = r.reserves;
    s.timeouts[slot] = r.timeouts;
    s.releases[slot] = r.releases;
    s.buries[slot] = r.buries;
    s.kicks[slot] = r.kicks;
    this.tubeRef(t);
    if (r.id >= this.nextId) this.nextId = r.id + 1;
    this.totalJobs++;
    t.totalJobs++;
    if (r.state === JobState.Buried) {
      t.buried.insert(s, slot);
      this.buriedCount++;
      s.state[slot] = JobState.Buried;
    } else {
      const left = r.state === JobState.Delayed ? Math.max(0, r.delayLeftMs ?? 0) : 0;
      this.enqueue(slot, left);
    }
    return slot;
  }

  /** Ids handed out from now on are at least `next` (recovery: ids seen in the log are never given again). */
  continueIdsFrom(next: number): void {
    if (next > this.nextId) this.nextId = next;
  }

  // ---- time ----------------------------------------------------------------

  /** Recomputes when connection c next needs a timeout check (beanstalkd's connsched). */
  private sched(c: Conn): void {
    if (c.tickPos >= 0) this.conns.removeAt(c.tickPos);
    if (c.closed) return;
    let t = Infinity;
    if (c.reserved.count) {
      const margin = c.waiting ? SAFETY_MARGIN_MS : 0;
      t = this.store.deadline[this.soonestReserved(c)]! - margin;
    }
    if (c.waiting) t = Math.min(t, c.waitUntil);
    c.tickAt = t;
    if (t !== Infinity) {
      this.conns.push(c);
      this.schedule(t);
    }
  }

  /** Makes sure the timer fires no later than `at`. */
  private schedule(at: number): void {
    if (at >= this.timerAt) return;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timerAt = at;
    const ms = Math.max(0, Math.min(at - this.clock.now(), MAX_TIMER_MS));
    this.timer = this.clock.setTimer(() => this.tick(), Math.ceil(ms));
  }

  /** Moves due delayed jobs to ready, ends pauses, and times out reservations and waits. */
  tick(): void {
    this.timer = null;
    this.timerAt = Infinity;
    let now = this.clock.now();
    let next = Infinity;
    const s = this.store;

    for (;;) {
      // The soonest delayed job across tubes; a scan of tubes, not of jobs.
      let j = NONE;
      for (const t of this.tubes.items) {
        const d = t.delay.peek();
        if (d !== undefined && (j === NONE || s.deadline[d]! < s.deadline[j]!)) j = d;
      }
      if (j === NONE) break;
      if (s.deadline[j]! > now) {
        next = Math.min(next, s.deadline[j]!);
        break;
      }
      this.tubeOf(j).delay.removeAt(s.heapPos[j]!);
      this.enqueue(j, 0);
    }

    for (const t of this.tubes.items) {
      if (t.pause && t.unpauseAt <= now) {
        t.pause = 0;
        this.processQueue();
      } else if (t.unpauseAt > now) {
        next = Math.min(next, t.unpauseAt);
      }
    }

    now = this.clock.now();
    for (;;) {
      const c = this.conns.peek();
      if (!c) break;
      if (c.tickAt > now) {
        next = Math.min(next, c.tickAt);
        break;
      }
      this.conns.pop();
      this.connTimeout(c, now);
    }
    if (next !== Infinity) this.schedule(next);
  }

  /** A connection's tick came: expire its reservations, end its wait (beanstalkd's conn_timeout). */
  private connTimeout(c: Conn, now: number): void {
    const s = this.store;
    const soon = c.waiting && this.deadlineSoon(c, now);
    for (;;) {
      const j = this.soonestReserved(c);
      if (j === NONE || s.deadline[j]! >= now) break;
      this.timeoutCount++;
      s.timeouts[j]!++;
      this.removeReserved(c, j);
      this.enqueue(j, 0);
    }
    if (soon) {
      this.removeWaiting(c);
      this.sched(c);
      c.events.deadlineSoon();
    } else if (c.waiting && c.waitUntil <= now) {
      c.waitUntil = Infinity;
      this.removeWaiting(c);
      this.sched(c);
      c.events.timedOut();
    } else {
      this.sched(c);
    }
  }

  /** A waiting connection's peer half-closed: end the wait with TIMED_OUT, as beanstalkd does. */
  hangUp(c: Conn): void {
    if (!c.waiting) return;
    c.waitUntil = Infinity;
    this.removeWaiting(c);
    this.sched(c);
    c.events.timedOut();
  }

  /** Stops the timer (for shutdown). */
  stop(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }
}
