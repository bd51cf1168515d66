/**
 * A plain-object view of the server's state, for the JSON endpoint, the
 * dashboard and the Prometheus exporter (one source for all three).
 */

import { Op } from "../protocol/ops.ts";
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

const COMMAND_NAMES: [string, Op][] = [
  ["put", Op.Put],
  ["peek", Op.Peek],
  ["peek-ready", Op.PeekReady],
  ["peek-delayed", Op.PeekDelayed],
  ["peek-buried", Op.PeekBuried],
  ["reserve", Op.Reserve],
  ["reserve-with-timeout", Op.ReserveTimeout],
  ["reserve-job", Op.ReserveJob],
  ["delete", Op.Delete],
  ["release", Op.Release],
  ["use", Op.Use],
  ["watch", Op.Watch],
  ["ignore", Op.Ignore],
  ["bury", Op.Bury],
  ["kick", Op.Kick],
  ["kick-job", Op.KickJob],
  ["touch", Op.Touch],
  ["stats", Op.Stats],
  ["stats-job", Op.StatsJob],
  ["stats-tube", Op.StatsTube],
  ["list-tubes", Op.ListTubes],
  ["list-tube-used", Op.ListTubeUsed],
  ["list-tubes-watched", Op.ListTubesWatched],
  ["pause-tube", Op.PauseTube],
];

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
