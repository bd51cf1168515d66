/**
 * The runner's event stream (runner/events.ts) turned into what the console
 * shows and /metrics counts: job outcomes (Outcomes), a failure record for
 * every failed attempt (handed to `keep`: the server's store, or the
 * runner's own bounded one), the workers page (per tube: processes, state,
 * uptime, restarts, last crash, a module that does not load) and the
 * schedules page (next run from croner, last tick and its outcome). One
 * subscriber; it only updates small per-tube records, so it is cheap on the
 * process that also serves the queue.
 */
import { Cron } from "croner";
import { type FailureKeeper, remoteKeeper, storeKeeper } from "../failures/keeper.ts";
import type { FailureRecord } from "../failures/record.ts";
import type { ResolvedJob } from "../runner/define.ts";
import type { ErrorInfo, EventOf, RunnerEvents, RunnerEventType, Timed } from "../runner/events.ts";
import { validatePayload } from "../runner/standard-schema.ts";
import type { RunningServer, Server } from "../server/index.ts";
import type { Console } from "./handler.ts";
import type { Outcomes } from "./outcomes.ts";
import type { JobOutcome, Outcome, RunnerView, ScheduleView, WorkerView } from "./runner-view.ts";

export interface BridgedJob {
  tube: string;
  schedules: ReadonlyArray<{ cron: string; timezone?: string }>;
  /** Checks a payload against the module's schema (absent: the module has none). */
  validate?: (payload: unknown) => Promise<{ ok: true } | { ok: false; reason: string }>;
}

export interface BridgeOptions {
  events: RunnerEvents;
  console?: Console;
  /** Where outcomes are counted (default: the console's). */
  outcomes?: Outcomes;
  jobs: readonly BridgedJob[];
  /** Jobs reserved in a tube right now (the workers' jobs in hand). */
  reservedIn: (tube: string) => number;
  /** Where failure records go. */
  keep: (id: number, record: FailureRecord) => void;
}

/** The event types the bridge takes (job.done included: the chart and the counters need it). */
const TYPES: readonly RunnerEventType[] = [
  "job.done",
  "job.retry",
  "job.buried",
  "job.timeout",
  "worker.start",
  "worker.ready",
  "worker.exit",
  "module.failed",
  "module.changed",
  "schedule.tick",
  "schedule.failed",
];

interface TubeWorkers {
  procs: Map<number, { startedAt: number; ready: boolean }>;
  restarts: number;
  starts: number;
  lastCrash: { at: number; reason: string } | null;
  loadError?: string;
  restartAt: number | null;
}

interface ScheduleState {
  tube: string;
  cron: string;
  timezone: string;
  last: ScheduleView["last"];
}

function record(
  e: { attempt: number; ms: number; pid: number; time: number },
  error: ErrorInfo | undefined,
  outcome: Outcome,
  fallback: string,
): FailureRecord {
  const r: FailureRecord = {
    message: error?.message ?? fallback,
    attempt: e.attempt,
    at: e.time,
    ms: Math.round(e.ms),
    pid: e.pid,
    outcome,
  };
  if (error?.stack) r.stack = error.stack;
  return r;
}

/** The per-tube record of the workers page, created on first mention. */
function tubeRecord(workers: Map<string, TubeWorkers>, tube: string): TubeWorkers {
  let w = workers.get(tube);
  if (!w) workers.set(tube, (w = { procs: new Map(), restarts: 0, starts: 0, lastCrash: null, restartAt: null }));
  return w;
}

/** One record per schedule a module declares (its timezone defaulting to the machine's). */
function scheduleStates(jobs: readonly BridgedJob[]): ScheduleState[] {
  return jobs.flatMap((j) =>
    j.schedules.map((s) => ({
      tube: j.tube,
      cron: s.cron,
      timezone: s.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
      last: null,
    })),
  );
}

/** A worker.* or module.* event applied to the workers page's records (other events are ignored). */
function trackWorker(workers: Map<string, TubeWorkers>, e: Timed, outcomes: Outcomes | undefined): void {
  switch (e.type) {
    case "worker.start": {
      const w = tubeRecord(workers, e.tube);
      w.procs.set(e.pid, { startedAt: e.time, ready: false });
      w.starts++;
      w.loadError = undefined;
      w.restartAt = null;
      return;
    }
    case "worker.ready": {
      const p = tubeRecord(workers, e.tube).procs.get(e.pid);
      if (p) p.ready = true;
      return;
    }
    case "worker.exit": {
      const w = tubeRecord(workers, e.tube);
      w.procs.delete(e.pid);
      if (e.reason === "crash" || e.reason === "ttr") {
        w.restarts++;
        outcomes?.workerRestarted(e.tube);
        const how = e.signal ? `signal ${e.signal}` : `exit code ${e.code}`;
        w.lastCrash = {
          at: e.time,
          reason: e.reason === "ttr" ? `killed: a handler ran past its TTR (${how})` : `exited unexpectedly (${how})`,
        };
        w.restartAt = e.restartInMs != null ? e.time + e.restartInMs : null;
      }
      return;
    }
    case "module.failed":
      tubeRecord(workers, e.tube).loadError = e.error.message;
      return;
    case "module.changed":
      if (e.change !== "removed") tubeRecord(workers, e.tube).loadError = undefined;
      else workers.delete(e.tube);
      return;
  }
}

/** A schedule's tick (a job put) or failure, counted and kept as its last outcome. */
function trackSchedule(
  schedules: readonly ScheduleState[],
  e: Timed<EventOf<"schedule.tick"> | EventOf<"schedule.failed">>,
  outcomes: Outcomes | undefined,
): void {
  const s = schedules.find((x) => x.tube === e.tube && x.cron === e.cron);
  const failed = e.type === "schedule.failed";
  outcomes?.scheduleTicked(e.tube, failed);
  if (s)
    s.last =
      e.type === "schedule.failed"
        ? { at: e.time, outcome: "error", detail: e.error.message }
        : { at: e.time, outcome: "put", detail: `job #${e.id}` };
}

/** One row of the workers page: a failed module wins, then any ready process, then a starting one, then a pending restart. */
function workerView(tube: string, w: TubeWorkers, inHand: number): WorkerView {
  const procs = [...w.procs.entries()];
  const state =
    w.loadError !== undefined
      ? "failed"
      : procs.some(([, p]) => p.ready)
        ? "running"
        : procs.length
          ? "starting"
          : w.restartAt !== null && w.restartAt > Date.now()
            ? "restarting"
            : "idle";
  return {
    tube,
    state,
    pid: procs[0]?.[0] ?? null,
    pids: procs.map(([pid]) => pid),
    startedAt: procs.length ? Math.min(...procs.map(([, p]) => p.startedAt)) : null,
    restarts: w.restarts,
    starts: w.starts,
    inHand,
    lastCrash: w.lastCrash,
    loadError: w.loadError,
  };
}

/** One row of the schedules page, with the next run computed now. */
function scheduleView(s: ScheduleState): ScheduleView {
  let next: number | null = null;
  try {
    next = new Cron(s.cron, { timezone: s.timezone }).nextRun()?.getTime() ?? null;
  } catch {
    // The module was checked at start; a pattern croner now refuses has no next run.
  }
  return { tube: s.tube, cron: s.cron, timezone: s.timezone, next, last: s.last };
}

export function bridgeRunner(o: BridgeOptions): { view: RunnerView; stop: () => void } {
  const workers = new Map<string, TubeWorkers>();
  for (const j of o.jobs) tubeRecord(workers, j.tube);
  const schedules = scheduleStates(o.jobs);
  const outcomes = o.outcomes ?? o.console?.outcomes;

  const outcome = (e: Timed, kind: Outcome, error?: ErrorInfo, fallback = ""): void => {
    const j = e as Timed & { tube: string; id: number; attempt: number; ms: number; pid: number };
    const out: JobOutcome = { at: e.time, id: j.id, tube: j.tube, attempt: j.attempt, outcome: kind, ms: j.ms, pid: j.pid };
    if (error) out.error = { message: error.message, stack: error.stack };
    outcomes?.record(out);
    if (kind !== "done") o.keep(j.id, record(j, error, kind, fallback));
  };

  const on = (e: Timed): void => {
    switch (e.type) {
      case "job.done":
        return outcome(e, "done");
      case "job.retry":
        return outcome(e, "retried", e.error);
      case "job.buried":
        return outcome(e, e.reason === "invalid" ? "invalid" : "buried", e.error);
      case "job.timeout":
        return outcome(e, "timeout", undefined, `ran past its TTR of ${e.ttr} s: the worker was killed`);
      case "schedule.tick":
      case "schedule.failed":
        return trackSchedule(schedules, e, outcomes);
      default:
        return trackWorker(workers, e, outcomes);
    }
  };
  const unsubscribe = o.events.subscribe(on, TYPES);

  const view: RunnerView = {
    workers: () => [...workers.entries()].map(([tube, w]) => workerView(tube, w, o.reservedIn(tube))),
    schedules: () => schedules.map(scheduleView),
    validate: (tube, payload) => o.jobs.find((j) => j.tube === tube)?.validate?.(payload) ?? null,
  };
  o.console?.attachRunner(view);
  return { view, stop: unsubscribe };
}

/**
 * What `startRunner` calls: failure records go to the embedded server's
 * store, or over the note extension under --connect; outcomes, workers and
 * schedules go to the embedded server's console when it has one, or to
 * `outcomes` and the returned view (the runner's own --http under --connect).
 */
export function observeRunner(
  events: RunnerEvents,
  server: Server | null,
  jobs: readonly ResolvedJob[],
  connect?: { host: string; port: number },
  outcomes?: Outcomes,
): { view: RunnerView; stop(): void } {
  const local = server && "failures" in server ? (server as RunningServer) : null;
  const keeper: FailureKeeper = local
    ? storeKeeper(local.failures)
    : remoteKeeper(connect ?? server!, (msg) => events.emit({ type: "runner.error", msg }));
  const bridge = bridgeRunner({
    events,
    console: server?.console,
    outcomes,
    jobs: jobs.map((j) => ({
      tube: j.tube,
      schedules: j.schedules,
      validate: j.schema
        ? async (payload: unknown) => {
            const r = await validatePayload(j.schema!, payload);
            return r.ok ? { ok: true as const } : { ok: false as const, reason: r.reason };
          }
        : undefined,
    })),
    reservedIn: (tube) => local?.queue.findTube(tube)?.reserved ?? 0,
    keep: (id, r) => keeper.keep(id, r),
  });
  return {
    view: bridge.view,
    stop() {
      bridge.stop();
      keeper.close();
    },
  };
}
