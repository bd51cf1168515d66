/**
 * The log's files and which one records go into now. Files with data are
 * kept oldest first; the last one is current. A record that does not fit
 * moves the log to the next spare (roll), whose header is then the first
 * record written into it; with no spare and no room for one (a full disk),
 * to a file that grows as it is written, so that deletes can still be
 * logged as space allows (writes that find no space fail and are retried).
 *
 * At start-up records continue in the newest file when it is of this
 * version, undamaged and has room: no new file has to be preallocated for
 * the server to listen.
 */
import * as fs from "node:fs";
import { describe, WalError } from "./errors.ts";
import { FORMAT_VERSION, HEADER_SIZE } from "./format.ts";
import { newSegment, type Segment, segmentPath, syncDirAsync } from "./segment.ts";
import type { SpaceLedger } from "./space.ts";

export interface FilesConfig {
  dir: string;
  maxRecord: number;
  log: (msg: string) => void;
}

export class LogFiles {
  /** Files with data, oldest first; the last one is current. */
  readonly list: Segment[] = [];
  readonly bySeq = new Map<number, Segment>();
  space!: SpaceLedger;

  constructor(
    private readonly cfg: FilesConfig,
    /** A file became current: its header must go in before any record. */
    private readonly started: (seg: Segment) => void,
  ) {}

  get current(): Segment {
    return this.list[this.list.length - 1]!;
  }

  add(seg: Segment): void {
    this.list.push(seg);
    this.bySeq.set(seg.seq, seg);
  }

  /** Picks the first current file (see the top of this file). */
  openCurrent(): void {
    const last = this.list[this.list.length - 1];
    if (last && last.version === FORMAT_VERSION && !last.damaged && last.size - last.pos >= this.cfg.maxRecord) {
      try {
        last.fd = fs.openSync(last.path, "r+");
        return;
      } catch (e) {
        this.cfg.log(`cannot reopen ${last.path} for writing (${describe(e)}); starting a new log file`);
      }
    }
    if (last) last.pos = last.size; // nothing more goes into it
    this.roll(true);
  }

  /** The file a record of n bytes goes into (moving to the next file if the current one is full). */
  place(n: number): Segment {
    const cur = this.current;
    if (cur.growable) {
      if (this.space.spares.length) return this.roll();
      if (cur.pos + n > cur.size) cur.size = cur.pos + n;
      return cur;
    }
    return cur.pos + n > cur.size ? this.roll() : cur;
  }

  private roll(quiet = false): Segment {
    const next = this.space.takeSpare(quiet) ?? this.growable();
    next.version = FORMAT_VERSION;
    next.key = (Math.random() * 0xfffffffe + 1) >>> 0;
    this.add(next);
    this.started(next);
    this.space.topUp();
    return next;
  }

  private growable(): Segment {
    const seq = this.space.nextSeq++;
    const path = segmentPath(this.cfg.dir, seq);
    let fd: number;
    try {
      fd = fs.openSync(path, "wx+", 0o644);
    } catch (e) {
      throw new WalError(`cannot create a log file in ${this.cfg.dir}: ${describe(e)}`);
    }
    syncDirAsync(this.cfg.dir);
    this.cfg.log(`WARNING: no room for a preallocated log file in ${this.cfg.dir}; writing ${path} as space allows`);
    const seg = newSegment(this.cfg.dir, seq, fd, HEADER_SIZE);
    seg.growable = true;
    return seg;
  }
}
