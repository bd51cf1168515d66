/**
 * What the console knows about the job runner when one runs in this process
 * (`beanrun run`): its workers, its schedules and, through Outcomes, every
 * job outcome. The runner fills these in; the HTTP side only reads them, so
 * `beanrun serve` (no runner) simply has none.
 */

/** "idle": no process now (the runner starts one when work arrives). */
export type WorkerState = "starting" | "running" | "restarting" | "failed" | "idle";

export interface WorkerView {
  tube: string;
  state: WorkerState;
  pid: number | null;
  /** Every live process of the tube (the runner may run several). */
  pids: number[];
  /** Epoch ms the oldest live process started, or null. */
  startedAt: number | null;
  /** Restarts after exits the supervisor did not ask for. */
  restarts: number;
  /** Processes started since the runner began (cold starts, scale-outs, replacements). */
  starts: number;
  /** Jobs the worker holds reserved right now. */
  inHand: number;
  lastCrash: { at: number; reason: string } | null;
  /** Set when the module does not load: the worker stays down until its file changes. */
  loadError?: string;
}

export interface ScheduleView {
  tube: string;
  cron: string;
  timezone: string;
  /** Epoch ms of the next tick, or null when the pattern has no more. */
  next: number | null;
  last: { at: number; outcome: "put" | "missed" | "error"; detail?: string } | null;
}

export interface RunnerView {
  workers(): WorkerView[];
  schedules(): ScheduleView[];
  /**
   * Checks a payload against the tube's schema; null when the runner has no
   * schema for that tube (no module, or a module without one).
   */
  validate?(tube: string, payload: unknown): Promise<{ ok: true } | { ok: false; reason: string }> | null;
}

export type Outcome = "done" | "retried" | "buried" | "timeout" | "invalid";

/** One finished attempt of a job, as the runner saw it. */
export interface JobOutcome {
  /** Epoch ms the attempt ended. */
  at: number;
  id: number;
  tube: string;
  attempt: number;
  outcome: Outcome;
  /** Handler duration in ms. */
  ms: number;
  pid?: number;
  error?: { message: string; stack?: string };
}
