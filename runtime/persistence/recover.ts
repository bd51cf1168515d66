/**
 * Reading the log back at start-up: every file in sequence order, every
 * record checked. The newest record of a job wins; a delete removes it.
 * A record that fails its checks ends that file: the file is truncated there
 * and the fact reported, and reading goes on with the next file. A file whose
 * header is wrong stops the start-up with an explanation (it may hold jobs).
 */
import * as fs from "node:fs";
import { WalError, describe } from "./errors.ts";
import {
  FORMAT_VERSION,
  HEADER_SIZE,
  REC_JOB,
  decodeHeader,
  decodeRecord,
  type JobRecord,
} from "./format.ts";
import { parseSegmentName, segmentPath } from "./segment.ts";

export interface RecoveredJob extends JobRecord {
  /** The file holding the job's latest record. */
  seq: number;
  /** Size of that record. */
  size: number;
}

export interface Recovery {
  jobs: Map<number, RecoveredJob>;
  /** Files with data, oldest first. */
  files: { seq: number; path: string; size: number }[];
  nextId: number;
  maxSeq: number;
  records: number;
  /** Problems found and repaired, for the operator. */
  notes: string[];
}

export function recover(dir: string): Recovery {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    throw new WalError(`cannot list the log directory ${dir}: ${describe(e)}`);
  }
  const seqs = names
    .map(parseSegmentName)
    .filter((s) => s > 0)
    .sort((a, b) => a - b);
  const out: Recovery = { jobs: new Map(), files: [], nextId: 1, maxSeq: 0, records: 0, notes: [] };
  for (const seq of seqs) {
    out.maxSeq = Math.max(out.maxSeq, seq);
    const path = segmentPath(dir, seq);
    let buf: Uint8Array;
    try {
      buf = fs.readFileSync(path);
    } catch (e) {
      throw new WalError(`cannot read the log file ${path}: ${describe(e)}`);
    }
    const h = decodeHeader(buf);
    if (h.kind === "empty") {
      // A preallocated file that never became current: nothing in it.
      try {
        fs.unlinkSync(path);
      } catch (e) {
        throw new WalError(`cannot remove the unused log file ${path}: ${describe(e)}`);
      }
      continue;
    }
    if (h.kind === "bad") {
      throw new WalError(
        `log file ${path}: ${h.reason}. It may hold jobs, so the server will not start with it; ` +
          `move it out of ${dir} to start without the jobs it holds`,
      );
    }
    if (h.header.version > FORMAT_VERSION) {
      throw new WalError(
        `log file ${path} has format version ${h.header.version}, written by a newer beanrun ` +
          `(this one reads version ${FORMAT_VERSION}); run the newer version`,
      );
    }
    if (h.header.seq !== seq) out.notes.push(`${path}: its header says file ${h.header.seq}; read as file ${seq}`);
    if (h.header.nextId > out.nextId) out.nextId = h.header.nextId;
    let off = HEADER_SIZE;
    for (;;) {
      const r = decodeRecord(buf, off);
      if (r.kind === "end") break;
      if (r.kind === "bad") {
        const lost = buf.length - off;
        try {
          fs.truncateSync(path, off);
        } catch (e) {
          throw new WalError(`log file ${path}: bad record at offset ${off} (${r.reason}) and cannot truncate it: ${describe(e)}`);
        }
        out.notes.push(
          `${path}: bad record at offset ${off} (${r.reason}); truncated the file there (${lost} bytes dropped; ` +
            `zero padding included). A torn tail is a write that was never acknowledged; anywhere else it is corruption`,
        );
        buf = buf.subarray(0, off);
        break;
      }
      out.records++;
      const rec = r.record;
      if (rec.id + 1 > out.nextId) out.nextId = rec.id + 1;
      if (rec.type === REC_JOB) {
        out.jobs.set(rec.id, { ...rec, seq, size: r.size });
      } else {
        out.jobs.delete(rec.id);
      }
      off += r.size;
    }
    out.files.push({ seq, path, size: buf.length });
  }
  return out;
}
