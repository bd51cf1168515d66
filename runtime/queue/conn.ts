/**
 * The queue's view of a client connection: the tube it uses, the tubes it
 * watches, the jobs it has reserved, and whether it waits in a reserve.
 * Socket handling lives in the protocol layer; it learns of asynchronous
 * outcomes through `ConnEvents`.
 */

import { NONE } from "./jobs.ts";
import { JobList } from "./list.ts";
import type { Ms } from "./ms.ts";
import type { Tube } from "./tube.ts";

export interface ConnEvents {
  /** A job was reserved for this connection: send `RESERVED`. */
  reserved(slot: number): void;
  /** A waiting reserve ran out of time: send `TIMED_OUT`. */
  timedOut(): void;
  /** A waiting reserve was cut short by a reservation about to expire: send `DEADLINE_SOON`. */
  deadlineSoon(): void;
}

export class Conn {
  use: Tube;
  readonly watch: Ms<Tube>;
  /** Jobs this connection has reserved, oldest first. */
  readonly reserved = new JobList();
  /** Cached slot of the reserved job with the earliest deadline (NONE = recompute). */
  soonest = NONE;
  waiting = false;
  /** Monotonic ms when a waiting reserve times out (Infinity = never). */
  waitUntil = Infinity;
  /** Monotonic ms when this connection next needs attention (Infinity = never). */
  tickAt = Infinity;
  tickPos = -1;
  isProducer = false;
  isWorker = false;
  closed = false;

  constructor(
    readonly events: ConnEvents,
    use: Tube,
    watch: Ms<Tube>,
  ) {
    this.use = use;
    this.watch = watch;
  }
}
