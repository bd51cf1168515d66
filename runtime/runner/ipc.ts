/** Messages between the supervisor and a tube's worker process (node IPC, JSON). */

export type WorkerMessage =
  /** The module loaded and every slot is connected. */
  | { t: "ready"; tube: string; concurrency: number }
  /**
   * A handler started: kill the worker at `deadline` (epoch ms) unless it ends or touches; `ends`: the slot's previous job ended.
   * `held` (on the first start of each batch): the other jobs the slot holds reserved and has not started yet.
   */
  | { t: "start"; id: number; attempt: number; deadline: number; slot: number; ends?: number; held?: number[] }
  | { t: "touch"; id: number; deadline: number }
  | { t: "end"; id: number };

export type SupervisorMessage =
  /** Stop reserving, finish within graceMs, release the rest, exit 0. */
  | { t: "shutdown"; graceMs: number }
  /**
   * First message to every worker: jobs that earlier workers of this tube held reserved without
   * starting them when they died ([id, times]); those reservations are not attempts.
   */
  | { t: "init"; notRun: [number, number][] };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === "object" && m !== null && typeof (m as { t?: unknown }).t === "string";
}
