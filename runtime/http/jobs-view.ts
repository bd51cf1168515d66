/**
 * Read-only views of jobs for the console: a page of one tube's jobs in one
 * state, or one job by id, with stats-job's fields and (when allowed) a safe
 * view of the body. This is the only console file that reads the queue's
 * columns directly; it never changes them. Listing scans the job table
 * once and keeps only the page asked for (a bounded selection, not a sort of
 * every job), so a tube of a million jobs costs one pass per request.
 */

import { JobState, NONE, STATE_NAMES } from "../queue/jobs.ts";
import type { Queue } from "../queue/queue.ts";
import { type BodyView, PREVIEW_BYTES, viewBody } from "./body-view.ts";

/** Bytes of each body a page of jobs shows (a job by id shows PREVIEW_BYTES). */
export const LIST_PREVIEW_BYTES = 4096;

export type ListState = "ready" | "delayed" | "reserved" | "buried";
export const LIST_STATES: readonly ListState[] = ["ready", "delayed", "reserved", "buried"];
const STATE_CODE: Record<ListState, JobState> = {
  ready: JobState.Ready,
  delayed: JobState.Delayed,
  reserved: JobState.Reserved,
  buried: JobState.Buried,
};

/** Deepest offset a page may start at (beyond it, kick or delete first). */
export const MAX_OFFSET = 10_000;
export const MAX_LIMIT = 100;

export interface JobView {
  id: number;
  tube: string;
  state: string;
  pri: number;
  ageSeconds: number;
  delay: number;
  ttr: number;
  timeLeftSeconds: number;
  reserves: number;
  timeouts: number;
  releases: number;
  buries: number;
  kicks: number;
  body?: BodyView;
}

function describe(queue: Queue, slot: number, withBody: boolean, preview = PREVIEW_BYTES): JobView {
  const s = queue.store;
  const now = queue.clock.now();
  const state = s.state[slot]!;
  const timed = state === JobState.Reserved || state === JobState.Delayed;
  const v: JobView = {
    id: s.id[slot]!,
    tube: queue.tubeOf(slot).name,
    state: STATE_NAMES[state]!,
    pri: s.pri[slot]!,
    ageSeconds: Math.trunc((now - s.created[slot]!) / 1000),
    delay: s.delay[slot]!,
    ttr: s.ttr[slot]!,
    timeLeftSeconds: timed ? Math.max(0, Math.trunc((s.deadline[slot]! - now) / 1000)) : 0,
    reserves: s.reserves[slot]!,
    timeouts: s.timeouts[slot]!,
    releases: s.releases[slot]!,
    buries: s.buries[slot]!,
    kicks: s.kicks[slot]!,
  };
  if (withBody) {
    const b = s.bodyOf(slot);
    v.body = viewBody(b.subarray(0, b.length - 2), preview);
  }
  return v;
}

export function jobById(queue: Queue, id: number, withBody: boolean): JobView | null {
  const slot = queue.find(id);
  return slot === NONE ? null : describe(queue, slot, withBody);
}

/** The order each state is served in: ready by (priority, id), delayed and reserved by deadline, buried oldest first. */
function before(queue: Queue, state: ListState): (a: number, b: number) => boolean {
  const s = queue.store;
  if (state === "ready") return (a, b) => s.pri[a]! < s.pri[b]! || (s.pri[a] === s.pri[b] && s.id[a]! < s.id[b]!);
  if (state === "buried") return (a, b) => s.id[a]! < s.id[b]!;
  return (a, b) => s.deadline[a]! < s.deadline[b]! || (s.deadline[a] === s.deadline[b] && s.id[a]! < s.id[b]!);
}

export interface JobPage {
  tube: string;
  state: ListState;
  offset: number;
  total: number;
  jobs: JobView[];
}

export function listJobs(queue: Queue, tube: string, state: ListState, offset: number, limit: number, withBodies: boolean): JobPage | null {
  const t = queue.findTube(tube);
  if (!t) return null;
  offset = Math.max(0, Math.min(MAX_OFFSET, Math.trunc(offset)));
  limit = Math.max(1, Math.min(MAX_LIMIT, Math.trunc(limit)));
  const s = queue.store;
  const code = STATE_CODE[state];
  const lt = before(queue, state);
  const keep = offset + limit;
  // best: the `keep` first slots in serving order, sorted; insertion only when a slot beats the worst kept.
  const best: number[] = [];
  let total = 0;
  for (let slot = 0; slot < s.capacity; slot++) {
    if (s.state[slot] !== code || s.tube[slot] !== t.index) continue;
    total++;
    if (best.length === keep && !lt(slot, best[keep - 1]!)) continue;
    let lo = 0;
    let hi = best.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (lt(best[mid]!, slot)) lo = mid + 1;
      else hi = mid;
    }
    best.splice(lo, 0, slot);
    if (best.length > keep) best.pop();
  }
  return { tube, state, offset, total, jobs: best.slice(offset).map((slot) => describe(queue, slot, withBodies, LIST_PREVIEW_BYTES)) };
}
