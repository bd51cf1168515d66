/**
 * What the console reads, whoever keeps the jobs: the in-memory queue of this
 * process (memorySource) or a PostgreSQL front end (runtime/store/postgres/
 * console-source.ts). One interface, so the page, the JSON API, /stats.json
 * and /metrics are the same code for both; answers may be promises (a store
 * answers after a query).
 */

import type { Queue } from "../queue/queue.ts";
import { type JobPage, type JobView, jobById, type ListState, listJobs } from "./jobs-view.ts";
import { type Snapshot, snapshot } from "./snapshot.ts";

type Maybe<T> = T | Promise<T>;

export interface ConsoleSource {
  snapshot(): Maybe<Snapshot>;
  listJobs(tube: string, state: ListState, offset: number, limit: number, withBodies: boolean): Maybe<JobPage | null>;
  jobById(id: number, withBodies: boolean): Maybe<JobView | null>;
  /** Does the tube exist (hold jobs, be paused, or be used or watched)? */
  hasTube(name: string): Maybe<boolean>;
  readonly maxJobSize: number;
}

export function memorySource(queue: Queue, ops: Float64Array, version: string): ConsoleSource {
  return {
    snapshot: () => snapshot(queue, ops, version),
    listJobs: (tube, state, offset, limit, withBodies) => listJobs(queue, tube, state, offset, limit, withBodies),
    jobById: (id, withBodies) => jobById(queue, id, withBodies),
    hasTube: (name) => queue.findTube(name) !== undefined,
    maxJobSize: queue.maxJobSize,
  };
}
