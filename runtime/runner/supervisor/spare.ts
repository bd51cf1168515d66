/**
 * One spare worker process, started ahead of need: it has loaded the worker
 * code and the runtime and waits for a tube (`assign` over IPC). A tube with
 * no process that gets work takes the spare, so its cold start costs the job
 * module's import and one round trip (the spare has loaded the worker code
 * and opened its first connection), not a process start.
 *
 * The next spare is started when the worker that took this one has started
 * its first job (or REPLACE_AFTER_MS after the take, if it has not): a
 * process start blocks the supervisor's event loop, which also serves the
 * queue, for one to tens of milliseconds, and must not fall between the
 * cold start's round trips. The spare is no tube's worker: it is not
 * counted against the process cap.
 *
 * A spare that keeps dying young (three times in a row) is given up on, with
 * one event: tubes then start their own processes, as without a spare.
 */
import type { SpawnedWorker } from "../../adapters/spawn.ts";
import type { JobFile } from "../discover.ts";
import type { RunnerEvents } from "../events.ts";
import type { SupervisorMessage } from "../ipc.ts";

/** The next spare starts when the one taken has started its first job, or this long after it was taken. */
const REPLACE_AFTER_MS = 100;
const YOUNG_MS = 5_000;
const GIVE_UP_AFTER = 3;

export class Spare {
  private w: SpawnedWorker | null = null;
  private startedAt = 0;
  private failures = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  /** Taken, and the next one not started yet (timer is the deadline for that). */
  private replacing = false;

  constructor(
    private readonly spawn: () => SpawnedWorker,
    private readonly events: RunnerEvents,
  ) {}

  /** Starts the spare if there is none (and none is on its way). */
  ensure(): void {
    if (this.w || this.timer || this.stopped || this.failures >= GIVE_UP_AFTER) return;
    let w: SpawnedWorker;
    try {
      w = this.spawn();
    } catch (e) {
      this.died(`cannot start a spare worker: ${(e as Error).message}`);
      return;
    }
    this.w = w;
    this.startedAt = Date.now();
    w.onExit((code, signal) => {
      if (this.w !== w) return; // assigned meanwhile: its tube's exit handler reports it
      this.w = null;
      if (!this.stopped) this.died(`the spare worker exited (${signal ? `signal ${signal}` : `code ${code}`})`);
    });
  }

  /** The spare, now the worker of `file`'s tube; null when there is none. */
  take(file: JobFile): SpawnedWorker | null {
    const w = this.w;
    if (!w) return null;
    this.w = null;
    const msg: SupervisorMessage = { t: "assign", tube: file.tube, path: file.path, display: file.display };
    w.send(msg);
    this.replacing = true;
    this.timer = setTimeout(() => this.replenish(), REPLACE_AFTER_MS);
    return w;
  }

  /** The worker that took the spare has started its first job: its cold start is over, the next spare starts now. */
  replenish(): void {
    if (!this.replacing) return;
    this.replacing = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.ensure();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.w?.kill("SIGTERM");
    this.w = null;
  }

  private died(why: string): void {
    this.failures = Date.now() - this.startedAt < YOUNG_MS ? this.failures + 1 : 1;
    if (this.failures >= GIVE_UP_AFTER) {
      this.events.emit({ type: "runner.error", msg: `${why}; no more spare workers (tubes start their own processes)` });
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.ensure();
    }, 250 * this.failures);
  }
}
