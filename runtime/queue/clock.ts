/**
 * Time for the queue. The queue never reads a runtime's clock or sets a
 * runtime timer itself: it gets a `Clock`, so tests can drive it with a
 * manual clock and every timing rule runs without sleeping.
 *
 * `Alarm` is the queue's one timer: it is asked to fire "no later than t"
 * many times and keeps only the earliest request, so delayed jobs, TTRs,
 * pauses and reserve timeouts share a single runtime timer.
 */
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

/** Runtime timers are capped; a later deadline is simply re-armed when this one fires. */
const MAX_TIMER_MS = 3_600_000;

export class Alarm {
  private timer: unknown = null;
  private at = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  /** Makes sure `fire` runs no later than `at` (clock ms). */
  schedule(at: number): void {
    if (at >= this.at) return;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.at = at;
    const ms = Math.max(0, Math.min(at - this.clock.now(), MAX_TIMER_MS));
    this.timer = this.clock.setTimer(() => {
      this.timer = null;
      this.at = Infinity;
      this.fire();
    }, Math.ceil(ms));
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.at = Infinity;
  }
}
