/** Messages between the supervisor and a tube's worker process (node IPC, JSON). */
import type { BootMarks, RunnerEvent, RunnerEventType } from "./events.ts";

export type WorkerMessage =
  /** A spare has loaded the worker code and connected: it is ready for a tube (see supervisor/spare.ts). */
  | { t: "loaded" }
  /** The module loaded and every slot is connected; `boot`: when it got through each step. */
  | { t: "ready"; tube: string; concurrency: number; boot: BootMarks }
  /**
   * A handler started: kill the worker at `deadline` (epoch ms) unless it ends or touches; `ends`: the slot's previous job ended.
   * `held` (on the first start of each batch): the other jobs the slot holds reserved and has not started yet.
   */
  | { t: "start"; id: number; attempt: number; deadline: number; slot: number; ends?: number; held?: number[] }
  | { t: "touch"; id: number; deadline: number }
  | { t: "end"; id: number }
  /** Events of this turn (job outcomes, handler logs, module.failed), in order. */
  | { t: "events"; events: RunnerEvent[] }
  /** A stopping slot's reserves were answered as it hung up: reservations the server counted that did not run. */
  | { t: "notRun"; ids: number[] }
  /** Stopping: its slots are about to hang up (sent before the first FIN); `hungUp` when all have, after their `notRun`. */
  | { t: "hangingUp" }
  | { t: "hungUp" }
  /** A reserved job looks like a retry: how many of its reservations were not runs? (see attempts.ts) */
  | { t: "ask"; id: number };

export type SupervisorMessage =
  /** To a spare worker (started with --spare, nothing loaded): become the worker of this tube; init follows. */
  | { t: "assign"; tube: string; path: string; display: string }
  /** Stop reserving, finish within graceMs, release the rest, exit 0. */
  | { t: "shutdown"; graceMs: number }
  /**
   * First message to every worker. `notRun`: jobs that earlier workers of this tube held reserved without
   * starting them when they died ([id, times]); those reservations are not attempts (see attempts.ts).
   * `idleSeconds`: exit (code 0) after this long with no job; 0: never.
   * `events`: the event types to send (null: all).
   */
  | { t: "init"; notRun: [number, number][]; idleSeconds: number; events: RunnerEventType[] | null }
  /** The event types someone subscribed to changed (null: all): the worker sends only those. */
  | { t: "interest"; events: RunnerEventType[] | null }
  /** Reservations that were not runs, learnt since init (another process of the tube hung up on them). */
  | { t: "notRun"; entries: [number, number][] }
  /** The answer to `ask`, once no process of the tube is hanging up. */
  | { t: "answer"; id: number; notRun: number };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === "object" && m !== null && typeof (m as { t?: unknown }).t === "string";
}

/** Worker exit codes the supervisor reads as reasons (any other non-zero code is a crash). */
export const EXIT = {
  /** Stopped: asked to, or idle. */
  ok: 0,
  /** Lost the server or could not reach it (EX_TEMPFAIL): not a crash. */
  serverGone: 75,
  /** The job module cannot be loaded (EX_CONFIG): not restarted until the file changes. */
  loadFailed: 78,
} as const;
