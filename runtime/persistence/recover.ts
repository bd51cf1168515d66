/**
 * Reading the log back at start-up: every file in sequence order, every
 * record checked. The newest record of a job wins; a delete removes it.
 *
 * A damaged record loses only itself: reading resumes at the next valid
 * record (scan.ts), nothing is truncated, and the report names the damaged
 * byte ranges and the ids that seem to have had records in them (a lost
 * delete brings a job back; a lost put or update loses it or its newest
 * state). A damaged file's valid records are rewritten by the log before it
 * is moved aside as wal.N.damaged (wal.ts); recovery only returns data.
 *
 * Ids: without damage the records give the exact next id; after damage the
 * ids file's mark (idmark.ts) puts the next id past any that was handed out.
 *
 * Files of zeros (spares preallocated by an earlier run) are kept as spares,
 * so a server restarted on a full disk still has the room it reserved.
 * A file that is not a beanrun log, or of a newer format version, stops the
 * start with an explanation.
 */
import * as fs from "node:fs";
import { describe, WalError } from "./errors.ts";
import { decodeHeader, type FileHeader, FORMAT_VERSION, HEADER_SIZE, isZero, type JobRecord, REC_JOB } from "./format.ts";
import { type IdMarkState, readIdMark } from "./idmark.ts";
import { type Damage, scanFile } from "./scan.ts";
import { parseSegmentName, segmentPath } from "./segment.ts";

export interface RecoveredJob extends JobRecord {
  /** The file holding the job's latest record. */
  seq: number;
  /** Size of that record. */
  size: number;
}

export interface RecoveredFile {
  seq: number;
  path: string;
  size: number;
  version: number;
  key: number;
  /** Offset after the last valid record. */
  end: number;
  damage: Damage[];
}

export interface Recovery {
  jobs: Map<number, RecoveredJob>;
  /** Files with data, oldest first. */
  files: RecoveredFile[];
  /** Files of zeros left by an earlier run, kept as spares. */
  spares: { seq: number; path: string; size: number }[];
  nextId: number;
  maxSeq: number;
  records: number;
  /** Problems found, for the operator. */
  notes: string[];
  /** Ids deleted in damaged files that an older file may still hold: their deletes are written again before those files go. */
  carryDeletes: number[];
  /** Whether any damage was found. */
  damaged: boolean;
  idMark: IdMarkState;
}

/** Smallest spare worth keeping. */
const MIN_SPARE = 64 << 10;

function readOrFail(path: string, limit = Infinity): Buffer {
  try {
    if (limit === Infinity) return fs.readFileSync(path);
    const fd = fs.openSync(path, "r");
    try {
      const b = Buffer.alloc(Math.min(limit, fs.fstatSync(fd).size));
      fs.readSync(fd, b, 0, b.length, 0);
      return b;
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw new WalError(`cannot read the log file ${path}: ${describe(e)}`);
  }
}

/** The header to read a file with, or null for a file of zeros; throws for a file that must stop the start. */
function headerOf(path: string, dir: string, buf: Buffer): (FileHeader & { damaged: boolean }) | null {
  const h = decodeHeader(buf);
  if (h.kind === "empty") return null;
  let header: FileHeader;
  if (h.kind === "bad") {
    if (!h.guess || (h.guess.version !== 1 && h.guess.version !== 2)) {
      throw new WalError(
        `log file ${path}: ${h.reason}. It may hold jobs, so the server will not start with it; ` +
          `move it out of ${dir} to start without the jobs it holds`,
      );
    }
    header = h.guess;
  } else {
    header = h.header;
  }
  if (header.version > FORMAT_VERSION) {
    throw new WalError(
      `log file ${path} has format version ${header.version}, written by a newer beanrun ` +
        `(this one reads version ${FORMAT_VERSION}); run the newer version`,
    );
  }
  return { ...header, damaged: h.kind === "bad" };
}

/** Ids seen in damaged ranges, with the kind of record that seemed to start there and where. */
type Touched = Map<number, { type: string; where: string }>;

export function recover(dir: string): Recovery {
  const seqs = segmentSeqs(dir);
  const out: Recovery = {
    jobs: new Map(),
    files: [],
    spares: [],
    nextId: 1,
    maxSeq: 0,
    records: 0,
    notes: [],
    carryDeletes: [],
    damaged: false,
    idMark: readIdMark(dir),
  };
  const touched: Touched = new Map();
  for (const seq of seqs) {
    out.maxSeq = Math.max(out.maxSeq, seq);
    readSegment(out, touched, dir, seq);
  }
  if (out.damaged) report(out, touched);
  return out;
}

/** The sequence numbers of the log files in `dir`, oldest first. */
function segmentSeqs(dir: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    throw new WalError(`cannot list the log directory ${dir}: ${describe(e)}`);
  }
  return names
    .map(parseSegmentName)
    .filter((s) => s > 0)
    .sort((a, b) => a - b);
}

/** One log file: kept as a spare, removed (all zeros), moved aside (data without a header), or its records read into `out`. */
function readSegment(out: Recovery, touched: Touched, dir: string, seq: number): void {
  const path = segmentPath(dir, seq);
  // A spare is recognised by its first 64 KiB of zeros (a file's first write starts with its header and is never torn that far).
  const head = readOrFail(path, MIN_SPARE);
  const size = fs.statSync(path).size;
  if (size >= MIN_SPARE && isZero(head, 0, head.length)) {
    out.spares.push({ seq, path, size });
    return;
  }
  const buf = readOrFail(path);
  const header = headerOf(path, dir, buf);
  if (!header) {
    if (isZero(buf, 0, buf.length)) {
      fs.rmSync(path, { force: true });
      return;
    }
    // Data without a header: nothing in it can be trusted; keep the bytes for the operator.
    fs.renameSync(path, `${path}.damaged`);
    out.damaged = true;
    out.notes.push(`${path}: no header but data after it; moved aside as ${path}.damaged, its records were not read`);
    return;
  }
  if (header.seq !== seq) out.notes.push(`${path}: its header says file ${header.seq}; read as file ${seq}`);
  if (header.nextId > out.nextId) out.nextId = header.nextId;
  const deletes: number[] = [];
  const scan = scanFile(buf, header, (r) => {
    out.records++;
    const rec = r.record;
    if (rec.id + 1 > out.nextId) out.nextId = rec.id + 1;
    if (rec.type === REC_JOB) {
      out.jobs.set(rec.id, { ...rec, seq, size: r.size });
    } else {
      out.jobs.delete(rec.id);
      if (rec.id < header.nextId) deletes.push(rec.id);
    }
  });
  const damage = scan.damage;
  if (header.damaged)
    damage.unshift({
      start: 0,
      end: HEADER_SIZE,
      reason: "header checksum mismatch; records read with the header's fields as they are",
      resumed: true,
      seen: [],
    });
  if (damage.length) noteDamage(out, touched, path, damage, deletes);
  out.files.push({ seq, path, size: buf.length, version: header.version, key: header.key, end: scan.end, damage });
}

/** A damaged file: its deletes are carried, each damaged range is described, and the ids seen in it are remembered for the report. */
function noteDamage(out: Recovery, touched: Touched, path: string, damage: Damage[], deletes: number[]): void {
  out.damaged = true;
  out.carryDeletes.push(...deletes);
  for (const d of damage) {
    const where = `${path} bytes ${d.start}..${d.end}`;
    out.notes.push(
      `${where} (${d.end - d.start} bytes) are damaged (${d.reason}) and were skipped; ` +
        (d.resumed ? `reading resumed at offset ${d.end}` : `no valid record follows in the file`) +
        (d.seen.length ? `; records that seem to start there: ${d.seen.map((x) => `${x.type} of job ${x.id} at ${x.at}`).join(", ")}` : ""),
    );
    for (const x of d.seen) {
      if (x.id + 1 > out.nextId) out.nextId = x.id + 1;
      touched.set(x.id, { type: x.type, where });
    }
  }
}

/** After damage: what may have been lost, and where ids continue. */
function report(out: Recovery, touched: Touched): void {
  const back: number[] = [];
  const stale: number[] = [];
  const lost: number[] = [];
  for (const [id, t] of touched) {
    if (out.jobs.has(id)) (t.type === "delete" ? back : stale).push(id);
    else if (t.type === "job") lost.push(id);
  }
  const list = (xs: number[]) => xs.sort((a, b) => a - b).join(", ");
  if (back.length) out.notes.push(`WARNING: jobs ${list(back)} are live again: their delete was in a damaged range and may have been lost`);
  if (stale.length)
    out.notes.push(`WARNING: jobs ${list(stale)} came back in an older state: a newer record of theirs was in a damaged range`);
  if (lost.length)
    out.notes.push(
      `WARNING: jobs ${list(lost)} had a record in a damaged range and are gone (lost, or deleted by a record that was also damaged)`,
    );
  out.notes.push(
    "WARNING: damaged bytes may also have held records whose ids could not be read: a delete or newer state of any older job may have been lost",
  );
  const before = out.nextId;
  if (out.idMark.mark > out.nextId) out.nextId = out.idMark.mark;
  out.notes.push(
    out.idMark.mark > 0
      ? `job ids continue at ${out.nextId} (the ids file's mark${out.nextId > before ? `, past any id handed out before the damage; the log alone showed ${before}` : ""})`
      : `WARNING: no valid ids file (${out.idMark.problem ?? "no mark"}): job ids continue at ${out.nextId}, above every id still readable; ids in the damaged bytes may be given again`,
  );
}
