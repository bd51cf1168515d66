/**
 * Connections waiting in a reserve. Each waits on every tube it watches (in
 * each tube's `waiting` Ms, whose take order beanstalkd's clients can see),
 * and the set of tubes that have any waiter is kept so that handing out jobs
 * looks only at those tubes, not at every tube.
 */

import type { Clock } from "./clock.ts";
import type { Conn } from "./conn.ts";
import type { QueueCounters } from "./counters.ts";
import type { JobStore } from "./jobs.ts";
import { NONE } from "./jobs.ts";
import type { Tube } from "./tube.ts";

export class Waiting {
  private readonly tubes = new Set<Tube>();

  constructor(
    private readonly store: JobStore,
    private readonly n: QueueCounters,
    private readonly clock: Clock,
  ) {}

  add(c: Conn): void {
    c.waiting = true;
    this.n.waiting++;
    for (const t of c.watch.items) {
      t.waiting.append(c);
      this.tubes.add(t);
    }
  }

  remove(c: Conn): void {
    if (!c.waiting) return;
    c.waiting = false;
    this.n.waiting--;
    for (const t of c.watch.items) {
      t.waiting.remove(c);
      if (t.waiting.length === 0) this.tubes.delete(t);
    }
  }

  /** A tube vanished. */
  forget(t: Tube): void {
    this.tubes.delete(t);
  }

  /** The ready job with the best (priority, id) among unpaused tubes that have waiters; ends pauses that are over. */
  bestJob(): number {
    const s = this.store;
    let best = NONE;
    let now = -1;
    for (const t of this.tubes) {
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
}
