/**
 * What a job's log record says, read from the queue's columns: the record's
 * size and its fields, with the queue's monotonic times turned into
 * wall-clock ones (a restart has a new monotonic clock; the wall clock
 * carries over). wal.ts decides where and when a record goes; this file
 * only knows what is in it. One fields object and one encoded name per tube
 * are reused, so writing a record allocates nothing.
 */
import { JobState, type JobStore } from "../queue/jobs.ts";
import type { RecordBuffer } from "./buffer.ts";
import { encodeJob, encodeTubeName, type JobFields, jobRecordSize, ST_BURIED, ST_DELAYED, ST_READY } from "./format.ts";
import type { Segment } from "./segment.ts";

/** What the log reads of the queue's jobs. It writes only `store.persist` (the file of each job's latest record). */
export interface JobSource {
  readonly store: JobStore;
  tubeName(slot: number): string;
  /** The queue's clock (monotonic milliseconds), to turn its times into wall-clock ones. */
  now(): number;
}

/**
 * Encoded tube names kept at most (more are re-encoded after a clear).
 * Every name a client ever put a job into gets an entry while tubes come
 * and go: at 10,000 names of up to 200 bytes the cache alone could hold
 * several MiB; at 1,024, well under 1. Encoding a name again costs less
 * than writing the record.
 */
const TUBE_CACHE = 1024;

export class JobRecords {
  private readonly tubeBytes = new Map<string, Uint8Array>();
  private readonly f: JobFields = {
    state: 0,
    pri: 0,
    delay: 0,
    ttr: 0,
    id: 0,
    created: 0,
    deadline: 0,
    reserves: 0,
    timeouts: 0,
    releases: 0,
    buries: 0,
    kicks: 0,
  };

  /** Bytes the record of the job in `slot` takes. */
  size(src: JobSource, slot: number): number {
    return jobRecordSize(this.tubeName(src.tubeName(slot)).length, src.store.size[slot]! - 2);
  }

  /** Encodes the job in `slot` as a record of `size` bytes at buffer offset `at`, keyed for `seg`. */
  encode(buffer: RecordBuffer, at: number, seg: Segment, src: JobSource, slot: number): void {
    const s = src.store;
    const f = this.f;
    const st = s.state[slot];
    const wallNow = Date.now();
    const now = src.now();
    f.state = st === JobState.Buried ? ST_BURIED : st === JobState.Delayed ? ST_DELAYED : ST_READY;
    f.pri = s.pri[slot]!;
    f.delay = s.delay[slot]!;
    f.ttr = s.ttr[slot]!;
    f.id = s.id[slot]!;
    f.created = wallNow - (now - s.created[slot]!);
    f.deadline = st === JobState.Delayed ? wallNow + (s.deadline[slot]! - now) : 0;
    f.reserves = s.reserves[slot]!;
    f.timeouts = s.timeouts[slot]!;
    f.releases = s.releases[slot]!;
    f.buries = s.buries[slot]!;
    f.kicks = s.kicks[slot]!;
    const tube = this.tubeName(src.tubeName(slot));
    buffer.len += encodeJob(buffer.buf, buffer.view, at, seg.key, f, tube, s.bodyOf(slot), s.size[slot]! - 2);
  }

  private tubeName(name: string): Uint8Array {
    let b = this.tubeBytes.get(name);
    if (!b) {
      b = encodeTubeName(name);
      if (this.tubeBytes.size > TUBE_CACHE) this.tubeBytes.clear();
      this.tubeBytes.set(name, b);
    }
    return b;
  }
}
