/**
 * Jobs coming back from persistent storage: what recovery hands the queue
 * (`RestoredJob`) and how its columns are filled. The queue decides where
 * the job goes (Queue.restore); this file only copies the record in.
 */
import type { JobState, JobStore } from "./jobs.ts";

/** A job as recovered from persistent storage. */
export interface RestoredJob {
  id: number;
  tube: string;
  pri: number;
  /** Seconds, as last set by put or release. */
  delay: number;
  ttr: number;
  state: JobState.Ready | JobState.Delayed | JobState.Buried;
  /** For delayed jobs: milliseconds of delay still to run. */
  delayLeftMs?: number;
  /** Milliseconds since the job was created. */
  ageMs: number;
  reserves: number;
  timeouts: number;
  releases: number;
  buries: number;
  kicks: number;
  /** Body bytes without the trailing "\r\n". */
  body: Uint8Array;
}

/** Fills slot (just allocated for r.id with room for the body and "\r\n") from r; `now` is the clock's. */
export function fillRestored(s: JobStore, slot: number, r: RestoredJob, tubeIndex: number, now: number): void {
  const body = s.bodyOf(slot);
  body.set(r.body);
  body[r.body.length] = 13;
  body[r.body.length + 1] = 10;
  s.pri[slot] = r.pri;
  s.delay[slot] = r.delay;
  s.ttr[slot] = Math.max(r.ttr, 1);
  s.created[slot] = now - r.ageMs;
  s.tube[slot] = tubeIndex;
  s.reserves[slot] = r.reserves;
  s.timeouts[slot] = r.timeouts;
  s.releases[slot] = r.releases;
  s.buries[slot] = r.buries;
  s.kicks[slot] = r.kicks;
}
