/**
 * Spare worker processes, started ahead of need: each loads the worker code
 * and the runtime, opens its first connection, says "loaded", and waits for
 * a tube (`assign` over IPC). A tube with no process that gets work takes
 * the oldest spare, so its cold start costs the job module's import and one
 * round trip, not a process start (most of a cold start: the Bun runtime and
 * the worker's modules; bench/runner/scale.ts breaks it down).
 *
 * How many: one while cold starts are rare, so 30 idle tubes cost the runner
 * and one spare. Each spare taken is replaced at once (after the turn that
 * assigned it, so the assign and the init leave first). A take within
 * BURST_MS of the previous one is a burst (tubes woken together: a cron
 * tick at the top of the hour, a producer fanning out): the pool then grows
 * to one spare per take in the last BURST_MS, up to `max` (about the cores:
 * more would only wait their turn). Spares boot one at a time: the next
 * starts when the one before has loaded (or been taken). Booting several at
 * once on a busy machine makes them all late: the first cold start of the
 * burst then waits for the slowest share of the cores, and under churn
 * (--watch restarting a tube every 150 ms, test/runner/hangup.test.ts) no
 * worker got ready before its next restart.
 * When no spare has been taken for SHRINK_AFTER_MS the extras are stopped,
 * back to one.
 *
 * Spares are no tube's workers: they are not counted against the process
 * cap. A spare that keeps dying young (three times in a row) is given up on,
 * with one event: tubes then start their own processes, as without spares.
 */
import type { SpawnedWorker } from "../../adapters/spawn.ts";
import type { JobFile } from "../discover.ts";
import type { RunnerEvents } from "../events.ts";
import type { SupervisorMessage } from "../ipc.ts";

/** A take this soon after the previous one is part of a burst. */
export const BURST_MS = 1000;
/** Extra spares are stopped after this long with no take. */
export const SHRINK_AFTER_MS = 3000;
const YOUNG_MS = 5_000;
const GIVE_UP_AFTER = 3;

interface Entry {
  w: SpawnedWorker;
  startedAt: number;
  loaded: boolean;
}

export class Spares {
  /** Oldest first: the oldest is the nearest to loaded. */
  private readonly pool: Entry[] = [];
  /** Times of recent takes (within BURST_MS of now), oldest first. */
  private readonly takes: number[] = [];
  private lastTake = -Infinity;
  private failures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private shrinkTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  /**
   * @param max most spares at once (during a burst)
   * @param now the clock (tests)
   */
  constructor(
    private readonly spawn: () => SpawnedWorker,
    private readonly events: RunnerEvents,
    private readonly max = 2,
    private readonly now: () => number = Date.now,
  ) {}

  /** Spares alive (loaded or loading). */
  get size(): number {
    return this.pool.length;
  }

  /** How many spares to keep now: one per take in the last BURST_MS (at least one), at most `max`. */
  target(): number {
    const now = this.now();
    while (this.takes.length && now - this.takes[0]! > BURST_MS) this.takes.shift();
    return Math.max(1, Math.min(this.max, this.takes.length));
  }

  /**
   * Tops the pool up, one boot at a time: a spare starts when none in the
   * pool is still loading (the "loaded" message calls this again).
   */
  ensure(): void {
    if (this.stopped || this.failures >= GIVE_UP_AFTER || this.retryTimer) return;
    if (this.pool.length >= this.target() || this.pool.some((e) => !e.loaded)) return;
    this.startOne();
  }

  /** The oldest spare, now the worker of `file`'s tube; null when there is none. */
  take(file: JobFile): SpawnedWorker | null {
    const e = this.pool.shift();
    if (!e) return null;
    const msg: SupervisorMessage = { t: "assign", tube: file.tube, path: file.path, display: file.display };
    e.w.send(msg);
    const now = this.now();
    this.lastTake = now;
    this.takes.push(now);
    this.armShrink();
    // After this turn: the assign and the supervisor's init leave before the process start blocks the loop.
    setImmediate(() => this.ensure());
    return e.w;
  }

  stop(): void {
    this.stopped = true;
    for (const t of [this.retryTimer, this.shrinkTimer]) if (t) clearTimeout(t);
    for (const e of this.pool.splice(0)) e.w.kill("SIGTERM");
  }

  private startOne(): void {
    let w: SpawnedWorker;
    try {
      w = this.spawn();
    } catch (err) {
      this.died(`cannot start a spare worker: ${(err as Error).message}`, this.now());
      return;
    }
    const e: Entry = { w, startedAt: this.now(), loaded: false };
    this.pool.push(e);
    w.onMessage((m) => {
      if (e.loaded || (m as { t?: unknown } | null)?.t !== "loaded") return;
      e.loaded = true;
      this.ensure();
    });
    w.onExit((code, signal) => {
      const i = this.pool.indexOf(e);
      if (i < 0) return; // taken meanwhile (its tube's exit handler reports it), or stopped by a shrink
      this.pool.splice(i, 1);
      if (!this.stopped) this.died(`the spare worker exited (${signal ? `signal ${signal}` : `code ${code}`})`, e.startedAt);
    });
  }

  /** SHRINK_AFTER_MS after the last take, the extras go (the newest first: the oldest is surely loaded). */
  private armShrink(): void {
    if (this.shrinkTimer) clearTimeout(this.shrinkTimer);
    this.shrinkTimer = setTimeout(() => {
      this.shrinkTimer = null;
      if (this.stopped || this.now() - this.lastTake < SHRINK_AFTER_MS) return;
      while (this.pool.length > 1) this.pool.pop()!.w.kill("SIGTERM");
    }, SHRINK_AFTER_MS);
    this.shrinkTimer.unref?.();
  }

  private died(why: string, startedAt: number): void {
    this.failures = this.now() - startedAt < YOUNG_MS ? this.failures + 1 : 1;
    if (this.failures >= GIVE_UP_AFTER) {
      this.events.emit({ type: "runner.error", msg: `${why}; no more spare workers (tubes start their own processes)` });
      return;
    }
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.ensure();
    }, 250 * this.failures);
  }
}
