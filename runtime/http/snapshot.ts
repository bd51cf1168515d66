/**
 * A plain-object view of the server's state, for the JSON endpoint, the
 * dashboard and the Prometheus exporter (one source for all three).
 */

import { COMMAND_NAMES } from "../protocol/ops.ts";
import type { Queue } from "../queue/queue.ts";

export interface TubeSnapshot {
  name: string;
  urgent: number;
  ready: number;
  reserved: number;
  delayed: number;
  buried: number;
  totalJobs: number;
  using: number;
  watching: number;
  waiting: number;
  deletes: number;
  pauses: number;
  pausedSecondsLeft: number;
}

/**
 * A PostgreSQL front end's own traffic to its database (`--store` only):
 * the group commit's transactions, what they carried and how long they took.
 */
export interface StoreSnapshot {
  /** Transactions of batched commands that committed, and the commands in them. */
  transactions: number;
  commands: number;
  /** From a batch's start to its commit, seconds: counts per COMMIT_BUCKETS bound (cumulative, then +Inf), sum, count. */
  commitBuckets: number[];
  commitSum: number;
  /** Batches that failed: the connection (replaced before the lane's next batch), or a statement (re-run one per transaction). */
  failures: { connection: number; statement: number };
  /** Batches retried after a deadlock or serialization failure. */
  retries: number;
  lanes: number;
  lanesBusy: number;
}

/** Bounds of StoreSnapshot.commitBuckets, seconds. */
export const COMMIT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

export interface Snapshot {
  version: string;
  uptimeSeconds: number;
  draining: boolean;
  jobs: { urgent: number; ready: number; reserved: number; delayed: number; buried: number; total: number; timeouts: number };
  connections: { current: number; producers: number; workers: number; waiting: number; total: number };
  commands: Record<string, number>;
  binlog: { oldestIndex: number; currentIndex: number; recordsWritten: number; recordsMigrated: number };
  maxJobSize: number;
  tubes: TubeSnapshot[];
  store?: StoreSnapshot;
}

export function snapshot(queue: Queue, ops: Float64Array, version: string): Snapshot {
  const now = queue.clock.now();
  const j = queue.journal.stats();
  const n = queue.counters;
  const commands: Record<string, number> = {};
  for (const [name, op] of COMMAND_NAMES) commands[name] = ops[op]!;
  return {
    version,
    uptimeSeconds: Math.trunc((now - queue.startedAt) / 1000),
    draining: queue.draining,
    jobs: {
      urgent: n.urgent,
      ready: n.ready,
      reserved: n.reserved,
      delayed: n.delayed,
      buried: n.buried,
      total: n.totalJobs,
      timeouts: n.timeouts,
    },
    connections: {
      current: n.connections,
      producers: n.producers,
      workers: n.workers,
      waiting: n.waiting,
      total: n.totalConnections,
    },
    commands,
    binlog: {
      oldestIndex: j.oldestIndex,
      currentIndex: j.currentIndex,
      recordsWritten: j.recordsWritten,
      recordsMigrated: j.recordsMigrated,
    },
    maxJobSize: queue.maxJobSize,
    tubes: queue.tubes.map((t) => ({
      name: t.name,
      urgent: t.urgent,
      ready: t.ready.length,
      reserved: t.reserved,
      delayed: t.delay.length,
      buried: t.buried.count,
      totalJobs: t.totalJobs,
      using: t.using,
      watching: t.watching,
      waiting: t.waiting.length,
      deletes: t.deletes,
      pauses: t.pauses,
      pausedSecondsLeft: t.pause ? Math.max(0, Math.trunc((t.unpauseAt - now) / 1000)) : 0,
    })),
  };
}
