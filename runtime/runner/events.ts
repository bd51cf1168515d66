/**
 * The runner's typed event stream: everything the runner does that an
 * operator, a dashboard or a test may want to know, as plain data. The
 * logger, the console (failure records, metrics, the workers page, `beanrun
 * tail`) and the tests all subscribe to the same stream; log wording is not
 * an API, these types are.
 *
 * Where events come from:
 * - the supervisor (in the `run` process): worker.*, tube.*, module.failed,
 *   job.timeout, server.*;
 * - each worker process: job.* outcomes and handler logs, sent to the
 *   supervisor over IPC in batches (one message per event-loop turn) and
 *   re-emitted here with the worker's pid, so subscribers in the `run`
 *   process see every tube's events in one stream;
 * - the scheduler: schedule.*;
 * - the run command: runner.*.
 *
 * Contract for subscribers: called synchronously in emit order; a subscriber
 * must not throw (a throw is caught and dropped, so one bad subscriber
 * cannot stop the others) and should return quickly (it runs on the
 * process that also serves the queue). Events are JSON-safe: the same
 * objects travel over IPC and are written by `--log-format json` as
 * `{"time": ISO, "level", "event": type, ...fields, "msg"}`; `parseEventLine`
 * reads such a line back.
 *
 * Times: `time` is epoch ms at emit; `ms` is a duration in milliseconds.
 */

/** An error as data: the message, and the stack when there was one. */
export interface ErrorInfo {
  message: string;
  name?: string;
  stack?: string;
}

/** Fields every job event carries. `attempt` is 1 for the first run (see attempts.ts). */
interface JobFields {
  tube: string;
  id: number;
  attempt: number;
  /** The worker process that ran it. */
  pid: number;
}

/**
 * When a worker process got through each step of its start (epoch ms, with
 * sub-millisecond fractions): the process began, the runtime and worker code
 * were loaded, it learned its tube (a spare: when it was assigned; otherwise
 * at once), the job module was imported, its connections were open and
 * watching the tube. `spare`: it was started ahead of need.
 */
export interface BootMarks {
  spare: boolean;
  process: number;
  loaded: number;
  assigned: number;
  imported: number;
  connected: number;
}

/** Why a worker process started. */
export type StartReason =
  /** Work arrived for a tube with no process (scale from zero), or `processes.min`. */
  | "work"
  /** The backlog grew while every process of the tube was busy. */
  | "scale-out"
  /** Replaces a process that ended: crash, TTR kill, --watch restart. */
  | "replace";

/** Why a worker process ended. */
export type ExitReason =
  /** No job for `processes.idle` seconds: scaled in (to zero for the last one). */
  | "idle"
  /** Killed because a handler ran past the module's ttr. */
  | "ttr"
  /** --watch: its file changed. */
  | "restart"
  /** Its file was removed. */
  | "remove"
  /** The runner is stopping. */
  | "shutdown"
  /** Asked to give its place to a tube waiting for the global process cap. */
  | "yield"
  /** Lost the server (under --connect: it restarted or is unreachable); not a crash. */
  | "server-gone"
  /** Its module could not be loaded: see module.failed. */
  | "load-failed"
  /** Anything else: a non-zero exit, a signal, an uncaught error. */
  | "crash";

export type RunnerEvent =
  /** The handler resolved; the job was deleted. */
  | ({ type: "job.done"; ms: number } & JobFields)
  /** The handler threw; the job was released with `delay` seconds before its next attempt. */
  | ({ type: "job.retry"; ms: number; delay: number; error: ErrorInfo } & JobFields)
  /**
   * The job was buried (the dead-letter state):
   * "failed": the handler threw on its last attempt; "invalid": the body is
   * not JSON or the schema rejected it (never retried); "exhausted": earlier
   * runs ended without an outcome (timed out, crashed) and used up its attempts.
   */
  | ({ type: "job.buried"; ms: number; reason: "failed" | "invalid" | "exhausted"; error: ErrorInfo } & JobFields)
  /** The handler ran past the module's ttr: its worker process is killed; the server takes the job back. */
  | ({ type: "job.timeout"; ms: number; ttr: number } & JobFields)
  /** Still running when the shutdown grace period ended: released for another worker. */
  | ({ type: "job.released"; ms: number } & JobFields)
  /** Held in a batch behind a slow handler until the server took it back: not run here. */
  | ({ type: "job.lost" } & JobFields)
  /** A line the handler wrote with ctx.log. */
  | ({ type: "job.log"; level: "debug" | "info" | "warn" | "error"; msg: string; fields?: Record<string, unknown> } & JobFields)
  | { type: "worker.start"; tube: string; pid: number; reason: StartReason }
  /** The module loaded and every slot is connected; `boot`: how its start went, step by step. */
  | { type: "worker.ready"; tube: string; pid: number; concurrency: number; boot?: BootMarks }
  /** The worker stopped taking jobs (shutdown, idle, restart); `running` handlers get `graceMs`. */
  | { type: "worker.stopping"; tube: string; pid: number; running: number; graceMs: number }
  /**
   * A worker process ended. `lived`: ms since it started. For a crash,
   * `crashes` counts quick exits in a row and `restartInMs` is the backoff
   * before a replacement may start (null: none is needed now).
   */
  | {
      type: "worker.exit";
      tube: string;
      pid: number;
      reason: ExitReason;
      code: number | null;
      signal: string | null;
      lived: number;
      crashes?: number;
      restartInMs?: number | null;
    }
  /** The tube's module cannot be loaded: no worker is started for it until its file changes. */
  | { type: "module.failed"; tube: string; file: string; error: ErrorInfo }
  /** --watch saw the tube's file change, appear or go. */
  | { type: "module.changed"; tube: string; file: string; change: "changed" | "added" | "removed" }
  /** The tube has work but the global process cap is reached: it waits its turn. */
  | { type: "tube.waiting"; tube: string; cap: number; running: number }
  /** A tube that waited for the cap got a process. */
  | { type: "tube.resumed"; tube: string; waitedMs: number }
  | { type: "schedule.registered"; tube: string; cron: string; next: string | null }
  /** A cron tick put a job. */
  /** `at`: the tick's scheduled time (ms since the epoch), which a busy process may run late. */
  | { type: "schedule.tick"; tube: string; cron: string; id: number; at: number }
  | { type: "schedule.failed"; tube: string; cron: string; error: ErrorInfo }
  /** Under --connect: the server stopped answering; `retryInMs` until the next try. */
  | { type: "server.gone"; server: string; error: ErrorInfo; retryInMs: number }
  | { type: "server.back"; server: string; downMs: number }
  | { type: "runner.ready"; server: string; tubes: string[] }
  | { type: "runner.draining" }
  | { type: "runner.stopping"; signal: string; graceMs: number }
  | { type: "runner.stopped" }
  /** Something the runner could not do that fits no event above (the message says what). */
  | { type: "runner.error"; msg: string; tube?: string; error?: ErrorInfo };

export type RunnerEventType = RunnerEvent["type"];
/** An event as emitted, with its time. */
export type Timed<E extends RunnerEvent = RunnerEvent> = E & { time: number };
export type EventOf<T extends RunnerEventType> = Extract<RunnerEvent, { type: T }>;
export type Subscriber = (e: Timed) => void;

interface Subscription {
  fn: Subscriber;
  /** null: every type. */
  types: ReadonlySet<RunnerEventType> | null;
}

export class RunnerEvents {
  private subs: Subscription[] = [];
  private interest: ReadonlySet<RunnerEventType> | null = new Set();
  private readonly interestFns: ((types: ReadonlySet<RunnerEventType> | null) => void)[] = [];

  /**
   * Calls `fn` for every event from now on, or only for `types`; returns the
   * unsubscribe function. Naming the types matters for busy ones: a job.done
   * nobody subscribed to is not even sent by the workers.
   */
  subscribe(fn: Subscriber, types?: readonly RunnerEventType[]): () => void {
    this.subs = [...this.subs, { fn, types: types ? new Set(types) : null }];
    this.interestChanged();
    return () => {
      this.subs = this.subs.filter((s) => s.fn !== fn);
      this.interestChanged();
    };
  }

  /** Whether any subscriber takes events of this type. */
  wants(type: RunnerEventType): boolean {
    return this.interest === null || this.interest.has(type);
  }

  /** The types subscribed to (null: all), now and whenever that changes. */
  onInterest(fn: (types: ReadonlySet<RunnerEventType> | null) => void): void {
    this.interestFns.push(fn);
    fn(this.interest);
  }

  get interestedIn(): ReadonlySet<RunnerEventType> | null {
    return this.interest;
  }

  emit(e: RunnerEvent, time = Date.now()): void {
    const subs = this.subs;
    if (subs.length === 0) return;
    const timed = e as Timed;
    timed.time = time;
    for (let i = 0; i < subs.length; i++) {
      const s = subs[i]!;
      if (s.types !== null && !s.types.has(e.type)) continue;
      try {
        s.fn(timed);
      } catch {
        // A subscriber's bug must not stop the runner or the other subscribers.
      }
    }
  }

  private interestChanged(): void {
    let all = false;
    const types = new Set<RunnerEventType>();
    for (const s of this.subs) {
      if (s.types === null) all = true;
      else for (const t of s.types) types.add(t);
    }
    this.interest = all ? null : types;
    for (const fn of this.interestFns) fn(this.interest);
  }
}

export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof Error) {
    const info: ErrorInfo = { message: e.message || e.name, name: e.name };
    if (e.stack) info.stack = e.stack;
    return info;
  }
  return { message: String(e) };
}

export const EVENT_TYPES: readonly RunnerEventType[] = [
  "job.done",
  "job.retry",
  "job.buried",
  "job.timeout",
  "job.released",
  "job.lost",
  "job.log",
  "worker.start",
  "worker.ready",
  "worker.stopping",
  "worker.exit",
  "module.failed",
  "module.changed",
  "tube.waiting",
  "tube.resumed",
  "schedule.registered",
  "schedule.tick",
  "schedule.failed",
  "server.gone",
  "server.back",
  "runner.ready",
  "runner.draining",
  "runner.stopping",
  "runner.stopped",
  "runner.error",
];
const TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

/**
 * Reads back a `--log-format json` line written for an event; null for any
 * other line. Handler log lines (job.log) come back with their fields nested.
 */
export function parseEventLine(line: string): Timed | null {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof o !== "object" || o === null || typeof o.event !== "string" || !TYPES.has(o.event)) return null;
  const { time, level, event, msg, ...rest } = o;
  const e = { type: event, ...rest, time: Date.parse(String(time)) } as Record<string, unknown>;
  if (event === "job.log") {
    const { tube, id, attempt, pid, type, time: t, ...fields } = e;
    return { type, tube, id, attempt, pid, level, msg, fields, time: t } as Timed;
  }
  if (event === "runner.error") e.msg = msg;
  return e as Timed;
}
