/**
 * The ttr watch of one worker process: a timer per running job, armed at
 * each start or touch with the deadline the worker computed (handler start +
 * the module's ttr), disarmed when the job ends. When one fires, the whole
 * process is killed: a handler that never yields cannot be stopped any
 * other way, and the server takes the job back when the connection closes.
 */
export interface Running {
  attempt: number;
  /** When the handler started (epoch ms). */
  started: number;
}

export class Deadlines {
  private readonly timers = new Map<number, Running & { timer: ReturnType<typeof setTimeout> }>();

  constructor(private readonly expired: (id: number, run: Running) => void) {}

  arm(id: number, attempt: number, started: number, deadline: number): void {
    const old = this.timers.get(id);
    if (old) clearTimeout(old.timer);
    const run = { attempt, started };
    const timer = setTimeout(
      () => {
        this.timers.delete(id);
        this.expired(id, run);
      },
      Math.max(0, deadline - Date.now()),
    );
    this.timers.set(id, { ...run, timer });
  }

  /** A touch: the same run, a later deadline. */
  extend(id: number, deadline: number): void {
    const d = this.timers.get(id);
    if (d) this.arm(id, d.attempt, d.started, deadline);
  }

  disarm(id: number): void {
    const d = this.timers.get(id);
    if (d) clearTimeout(d.timer);
    this.timers.delete(id);
  }

  clear(): void {
    for (const d of this.timers.values()) clearTimeout(d.timer);
    this.timers.clear();
  }
}
