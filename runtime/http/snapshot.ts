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
