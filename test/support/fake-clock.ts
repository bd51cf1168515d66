/**
 * A manual clock for the queue (runtime/queue/clock.ts's Clock): time moves
 * only when a test calls `advance(ms)`, and timers due on the way fire in
 * order, each at its own time. Timing rules (TTR, DEADLINE_SOON, delays,
 * pauses, reserve timeouts) are then tested exactly and without sleeping.
 *
 * Like Node's and Bun's setTimeout, a timer asked for less than 1 ms fires
 * after 1 ms, so a component that re-arms "now" cannot spin forever.
 */
import type { Clock } from "../../runtime/queue/clock.ts";

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Timer[] = [];
  /** Called after each timer fires (a server flushes replies there). */
  afterTimer: () => void = () => {};

  constructor(start = 1_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.push({ id, at: this.t + Math.max(1, ms), fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by ms, firing every timer that comes due on the way, at its time. */
  advance(ms: number): void {
    const target = this.t + ms;
    for (let fired = 0; ; fired++) {
      if (fired > 1_000_000) throw new Error("FakeClock: timers keep re-arming without time passing");
      let next: Timer | undefined;
      for (const x of this.timers) if (x.at <= target && (!next || x.at < next.at || (x.at === next.at && x.id < next.id))) next = x;
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = next.at;
      next.fn();
      this.afterTimer();
    }
    this.t = target;
  }
}
