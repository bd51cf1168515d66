/**
 * The runner's log is one subscriber of its event stream (events.ts): each
 * event becomes one line, with a level and a sentence for people and the
 * event's own fields for machines (`--log-format json` writes them as they
 * are, `event` holding the type, so `parseEventLine` reads a line back).
 * The sentences are for reading only; nothing may depend on their wording.
 */
import { EVENT_TYPES, type EventOf, type RunnerEvent, type RunnerEvents, type RunnerEventType, type Timed } from "./events.ts";
import type { Logger, LogLevel } from "./log.ts";

type Render<T extends RunnerEventType> = (e: EventOf<T>) => string;

const LEVEL: Record<RunnerEventType, LogLevel> = {
  "job.done": "info",
  "job.retry": "warn",
  "job.buried": "error",
  "job.timeout": "error",
  "job.released": "warn",
  "job.lost": "warn",
  "job.log": "info",
  "worker.start": "info",
  "worker.ready": "debug",
  "worker.stopping": "info",
  "worker.exit": "info",
  "module.failed": "error",
  "module.changed": "info",
  "tube.waiting": "warn",
  "tube.resumed": "info",
  "schedule.registered": "info",
  "schedule.tick": "info",
  "schedule.failed": "error",
  "server.gone": "warn",
  "server.back": "info",
  "runner.ready": "info",
  "runner.draining": "warn",
  "runner.stopping": "info",
  "runner.stopped": "info",
  "runner.error": "error",
};

const exitHow = (e: EventOf<"worker.exit">): string => (e.signal ? `signal ${e.signal}` : `code ${e.code}`);

const MESSAGES: { [T in RunnerEventType]: Render<T> } = {
  "job.done": () => "done",
  "job.retry": (e) => `failed, retrying in ${e.delay}s: ${e.error.message}`,
  "job.buried": (e) =>
    e.reason === "invalid"
      ? `buried: ${e.error.message}`
      : e.reason === "exhausted"
        ? `buried: ${e.error.message}`
        : `failed, buried after ${e.attempt} attempts: ${e.error.message}`,
  "job.timeout": (e) => `handler ran past its ttr (${e.ttr}s): killing the worker (the server takes the job back)`,
  "job.released": () => "released: still running after the grace period",
  "job.lost": () => "not run: its TTR ran out while it waited behind a slow handler (the server has it back)",
  "job.log": (e) => e.msg,
  "worker.start": (e) => `worker starting (${e.reason})`,
  "worker.ready": () => "worker ready",
  "worker.stopping": () => "worker stopping: no new jobs",
  "worker.exit": (e) => {
    switch (e.reason) {
      case "crash":
        return `worker exited unexpectedly (${exitHow(e)})${e.restartInMs ? `; next start in ${e.restartInMs} ms at the earliest` : ""}`;
      case "idle":
        return "worker idle: exited";
      case "ttr":
        return "worker killed at the ttr";
      case "server-gone":
        return "worker lost the server: exited";
      case "load-failed":
        return "worker could not load its module";
      default:
        return `worker stopped (${e.reason})`;
    }
  },
  "module.failed": (e) => `cannot load ${e.file}: ${e.error.message}; no worker until the file changes`,
  "module.changed": (e) => `${e.file} ${e.change}`,
  "tube.waiting": (e) => `has work but the process cap (${e.cap}) is reached: waiting for a process`,
  "tube.resumed": (e) => `got a process after waiting ${Math.round(e.waitedMs)} ms`,
  "schedule.registered": (e) => `scheduled "${e.cron}"`,
  "schedule.tick": () => "scheduled job enqueued",
  "schedule.failed": (e) => `scheduled enqueue failed: ${e.error.message}`,
  "server.gone": (e) => `server gone, reconnecting: ${e.error.message}`,
  "server.back": (e) => `server back after ${Math.round(e.downMs)} ms`,
  "runner.ready": (e) => `running ${e.tubes.length} tube${e.tubes.length === 1 ? "" : "s"} against ${e.server}`,
  "runner.draining": () => "draining: new jobs are refused",
  "runner.stopping": (e) => `${e.signal}: stopping (grace ${e.graceMs / 1000} s)`,
  "runner.stopped": () => "stopped",
  "runner.error": (e) => e.msg,
};

/** The level an event is logged at. */
export function levelOf(e: RunnerEvent): LogLevel {
  if (e.type === "job.log") return e.level;
  if (e.type === "worker.exit" && e.reason === "crash") return "error";
  return LEVEL[e.type];
}

/** Writes the events of the stream at the logger's level to `log`; returns the unsubscribe function. */
export function logEvents(events: RunnerEvents, log: Logger): () => void {
  // Only the types that can be written (job.log and worker.exit vary in level: always taken).
  const types = EVENT_TYPES.filter((t) => t === "job.log" || t === "worker.exit" || log.enabled(LEVEL[t]));
  return events.subscribe((e: Timed) => {
    const level = levelOf(e);
    if (!log.enabled(level)) return;
    const msg = (MESSAGES[e.type] as Render<RunnerEventType>)(e as never);
    const { type, time: _time, ...rest } = e as Timed & { msg?: string; fields?: Record<string, unknown> };
    let fields: Record<string, unknown>;
    if (type === "job.log") {
      const { level: _l, msg: _m, fields: f, ...tags } = rest as Record<string, unknown>;
      fields = { ...(f as Record<string, unknown> | undefined), ...tags, event: type };
    } else if (type === "runner.error") {
      const { msg: _m, ...r } = rest;
      fields = { ...r, event: type };
    } else {
      fields = { ...rest, event: type };
    }
    log[level](msg, fields);
  }, types);
}
