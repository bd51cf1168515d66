/**
 * -b: the jobs read back from the write-ahead log enter the queue here,
 * before the server listens. The log only returns data (its Recovery); this
 * wiring turns each record into a queue job (reserved jobs come back ready,
 * delayed ones keep what is left of their delay by the wall clock, buried
 * stay buried), tells the log which slot holds it, and makes ids continue
 * above every id the log has seen.
 */

import { type RecoveredJob, type Recovery, ST_BURIED, ST_DELAYED, type Wal } from "../persistence/index.ts";
import { JobState } from "../queue/jobs.ts";
import type { Queue } from "../queue/queue.ts";

function stateOf(j: RecoveredJob): JobState.Ready | JobState.Delayed | JobState.Buried {
  return j.state === ST_BURIED ? JobState.Buried : j.state === ST_DELAYED ? JobState.Delayed : JobState.Ready;
}

export function restoreFromLog(queue: Queue, wal: Wal, recovery: Recovery): void {
  wal.bind({ store: queue.store, tubeName: (slot) => queue.tubeOf(slot).name, now: () => queue.clock.now() });
  const now = Date.now();
  const ids = [...recovery.jobs.keys()].sort((a, b) => a - b);
  for (const id of ids) {
    const j = recovery.jobs.get(id)!;
    const state = stateOf(j);
    const slot = queue.restore({
      id: j.id,
      tube: j.tube,
      pri: j.pri,
      delay: j.delay,
      ttr: j.ttr,
      state,
      delayLeftMs: state === JobState.Delayed ? Math.max(0, j.deadline - now) : undefined,
      ageMs: Math.max(0, now - j.created),
      reserves: j.reserves,
      timeouts: j.timeouts,
      releases: j.releases,
      buries: j.buries,
      kicks: j.kicks,
      body: j.body,
    });
    wal.adopt(slot, j);
  }
  queue.continueIdsFrom(recovery.nextId);
  wal.start(recovery);
  recovery.jobs.clear();
}
