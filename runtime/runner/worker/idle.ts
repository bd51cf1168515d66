/**
 * Scale to zero from the worker's side. Each slot waits for a job with
 * `reserve-with-timeout IDLE` instead of `reserve`; TIMED_OUT takes no job,
 * so a slot that gets it holds nothing and can stop without handing anything
 * back. It parks here. When every slot is parked the process is idle and
 * exits (code 0); when a sibling gets work meanwhile, the parked slots wake
 * and reserve again.
 */
export class IdleGate {
  private parked: ((resume: boolean) => void)[] = [];
  private done = false;

  constructor(
    private readonly slots: number,
    private readonly onIdle: () => void,
  ) {}

  /** A slot timed out: resolves true to reserve again, false when the process is idle and ends. */
  park(): Promise<boolean> {
    if (this.done) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      this.parked.push(resolve);
      if (this.parked.length < this.slots) return;
      this.done = true;
      this.release(false);
      this.onIdle();
    });
  }

  /** A slot got jobs: wake the parked ones. */
  busy(): void {
    if (this.parked.length && !this.done) this.release(true);
  }

  /** Shutdown: parked slots end. */
  stop(): void {
    this.done = true;
    this.release(false);
  }

  get idle(): boolean {
    return this.done;
  }

  private release(resume: boolean): void {
    const p = this.parked;
    this.parked = [];
    for (const r of p) r(resume);
  }
}
