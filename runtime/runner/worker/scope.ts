/**
 * What the slots of one worker process share: the job module, the line to
 * the supervisor, the attempt ledger it was given, the shutdown state, and
 * the reserved jobs the process holds.
 */
import type { NotRunCounts } from "../attempts.ts";
import type { ResolvedJob } from "../define.ts";
import type { Logger } from "../log.ts";
import type { JobInfo, WorkerConnection } from "../wire.ts";
import type { IdleGate } from "./idle.ts";
import type { SupervisorLink } from "./link.ts";

/** A reserved job this process holds: waiting in its slot's batch, or running. */
export interface Held {
  id: number;
  body: Uint8Array;
  info: JobInfo;
  /** When the server's reply arrived (ms, performance.now()): its TTR runs from about then. */
  reservedAt: number;
  conn: WorkerConnection;
  /** When its handler started (performance.now()), 0 before. */
  started: number;
  attempt: number;
  /** While running: ms between keep-alive touches (its own TTR is not longer than the module's), or null. */
  keepAliveMs?: number | null;
  /** A keep-alive touch failed: the server took the job back while it waited. */
  lost?: boolean;
}

export interface WorkerScope {
  readonly job: ResolvedJob;
  readonly link: SupervisorLink;
  /** The worker's logger: decides which handler log levels are sent at all. */
  readonly log: Logger;
  readonly notRun: NotRunCounts;
  readonly abort: AbortController;
  /** Jobs reserved and not yet answered (delete/release/bury written). */
  readonly held: Set<Held>;
  /** Running jobs that need keep-alive touches (see batching.ts keepAliveMs). */
  readonly running: Set<Held>;
  /** Slots waiting in a blocking reserve: closing them hands any job they get back to the server. */
  readonly idle: Set<WorkerConnection>;
  /** Parks slots that found no job for the idle time; null: never idle out. */
  gate: IdleGate | null;
  idleSeconds: number;
  stopping: boolean;
}
