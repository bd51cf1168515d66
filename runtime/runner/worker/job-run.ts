/**
 * Runs one held job: parses and validates its payload, gives it a full TTR
 * if it waited, runs the handler under the module's ttr (touching the job
 * while its own TTR is shorter), and returns the command that answers it
 * (delete, release or bury, chosen by decide.ts) as a thunk that the slot
 * sends with its next reserves. Null: the job is no longer ours.
 */
import { BeanstalkError } from "../../client/index.ts";
import type { JobContext, JobLogger } from "../define.ts";
import { type ErrorInfo, errorInfo } from "../events.ts";
import type { LogLevel } from "../log.ts";
import { validatePayload } from "../standard-schema.ts";
import { keepAliveMs, TOUCH_AFTER_MS } from "./batching.ts";
import { beforeRun, type Decision, decide, InvalidPayload } from "./decide.ts";
import type { Held, WorkerScope } from "./scope.ts";

/** What a slot tells the supervisor about its jobs (see Slot). */
export interface RunTells {
  started(id: number, attempt: number, deadline: number): void;
  ended(id: number): void;
}

export type Answer = () => Promise<void>;

const decoder = new TextDecoder();
const pid = process.pid;

export async function runHeld(w: WorkerScope, h: Held, tells: RunTells): Promise<Answer | null> {
  const { id, conn, attempt } = h;
  const { job } = w;
  const started = performance.now();
  h.started = started;
  const early = beforeRun(attempt, job);
  if (early) return answer(w, h, early, { message: `attempt ${attempt} of ${job.attempts}: earlier runs timed out or crashed` }, 0);

  let payload: unknown;
  try {
    payload = JSON.parse(decoder.decode(h.body));
  } catch (e) {
    return answer(w, h, decide(new InvalidPayload(""), attempt, job), { message: `payload is not JSON: ${(e as Error).message}` }, 0);
  }
  if (job.schema) {
    const v = await validatePayload(job.schema, payload);
    if (!v.ok)
      return answer(w, h, decide(new InvalidPayload(""), attempt, job), { message: `payload rejected by the schema: ${v.reason}` }, 0);
    payload = v.value;
  }

  // A job that waited in its batch behind a slow handler gets a full TTR again before it starts.
  if (!h.lost && started - h.reservedAt > TOUCH_AFTER_MS) {
    try {
      await conn.touch(id);
      h.reservedAt = performance.now();
    } catch (e) {
      if (!(e instanceof BeanstalkError && e.code === "NOT_FOUND")) throw e;
      h.lost = true;
    }
  }
  if (h.lost) {
    w.link.emit({ type: "job.lost", tube: job.tube, id, attempt, pid });
    return null;
  }

  // The module's ttr is the handler's deadline, whatever TTR the producer gave the job.
  const ttrMs = job.ttr * 1000;
  tells.started(id, attempt, Date.now() + ttrMs);
  h.keepAliveMs = keepAliveMs(h.info.ttr, job.ttr);
  if (h.keepAliveMs !== null) w.running.add(h);
  let jobLog: JobLogger | null = null;
  const ctx: JobContext = {
    id,
    tube: job.tube,
    attempt,
    signal: w.abort.signal,
    get log() {
      return (jobLog ??= handlerLog(w, id, attempt));
    },
    touch: async () => {
      await conn.touch(id);
      h.reservedAt = performance.now();
      w.link.send({ t: "touch", id, deadline: Date.now() + ttrMs });
    },
  };
  let error: unknown = null;
  try {
    await job.handler(payload, ctx);
  } catch (e) {
    error = e ?? new Error("handler threw a nullish value");
  } finally {
    if (h.keepAliveMs !== null) w.running.delete(h);
  }
  const ms = Math.round((performance.now() - started) * 100) / 100;
  tells.ended(id);
  return answer(w, h, decide(error, attempt, job), error === null ? null : errorInfo(error), ms);
}

/** The command for a decision, and the event emitted once the server acknowledged it. */
function answer(w: WorkerScope, h: Held, d: Decision, error: ErrorInfo | null, ms: number): Answer {
  const { id, conn, attempt } = h;
  const tube = w.job.tube;
  const pri = h.info.pri;
  switch (d.action) {
    case "delete":
      // The busiest event: not even built when nobody subscribed to it.
      return w.link.wants("job.done")
        ? () => conn.delete(id).then(() => w.link.emit({ type: "job.done", tube, id, attempt, pid, ms }))
        : () => conn.delete(id);
    case "release":
      return () =>
        conn
          .release(id, pri, d.delay)
          .then(() => w.link.emit({ type: "job.retry", tube, id, attempt, pid, ms, delay: d.delay, error: error! }));
    case "bury":
      return () =>
        conn.bury(id, pri).then(() => w.link.emit({ type: "job.buried", tube, id, attempt, pid, ms, reason: d.reason, error: error! }));
  }
}

/** Touches running jobs whose own TTR would end before the module's ttr (called a few times a second). */
export function keepRunningAlive(w: WorkerScope, now = performance.now()): void {
  for (const h of w.running) {
    if (now - h.reservedAt < h.keepAliveMs!) continue;
    h.reservedAt = now;
    h.conn.touch(h.id).catch(() => {});
  }
}

/** ctx.log: lines become job.log events, filtered by the worker's level before they are sent. */
function handlerLog(w: WorkerScope, id: number, attempt: number): JobLogger {
  const line = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (!w.log.enabled(level)) return;
    const e = { type: "job.log" as const, tube: w.job.tube, id, attempt, pid, level, msg: String(msg) };
    w.link.emit(fields ? { ...e, fields: jsonSafe(fields) } : e);
  };
  return { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
}

/** Handler fields cross IPC as JSON: errors become their message, the rest what JSON makes of it. */
function jsonSafe(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in fields) {
    const v = fields[k];
    out[k] = v instanceof Error ? v.message : typeof v === "bigint" ? String(v) : v;
  }
  return out;
}
