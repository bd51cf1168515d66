/** Messages between the supervisor and a tube's worker process (node IPC, JSON). */

export type WorkerMessage =
  /** The module loaded and every slot is connected. */
  | { t: "ready"; tube: string; concurrency: number }
  /** A handler started: kill the worker at `deadline` (epoch ms) unless it ends or touches; `ends`: the slot's previous job ended. */
  | { t: "start"; id: number; attempt: number; deadline: number; ends?: number }
  | { t: "touch"; id: number; deadline: number }
  | { t: "end"; id: number };

export type SupervisorMessage =
  /** Stop reserving, finish within graceMs, release the rest, exit 0. */
  { t: "shutdown"; graceMs: number };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === "object" && m !== null && typeof (m as { t?: unknown }).t === "string";
}
