/**
 * The space ledger: every record the log may still have to write is
 * reserved in advance (a put reserves its own record and its delete), and a
 * reservation is granted only while preallocated space covers all of them:
 * the current file's tail plus the spare files, each counted less one
 * largest record (a record that does not fit at the end of a file leaves
 * that much unused). So a full disk refuses puts (OUT_OF_MEMORY) but a
 * delete always has room.
 *
 * Spare files are preallocated off the event loop ahead of need; when that
 * fails the failure is logged once, retried every RETRY_MS, and the return
 * of space is logged too.
 */
import * as fs from "node:fs";
import { describe } from "./errors.ts";
import { HEADER_SIZE } from "./format.ts";
import { newSegment, preallocate, preallocateSync, type Segment, segmentPath, syncDir, syncDirAsync } from "./segment.ts";
import { RETRY_MS } from "./sync.ts";

export interface SpaceConfig {
  dir: string;
  fileSize: number;
  /** Largest record a job can need. */
  maxRecord: number;
  /** Smallest spare worth using when the disk cannot hold a full one. */
  minFile: number;
  log: (msg: string) => void;
}

export class SpaceLedger {
  /** Bytes of records the log has promised to be able to write. */
  reserved = 0;
  /** Preallocated files not yet used, in sequence order. */
  readonly spares: Segment[] = [];
  private preparing = false;
  private lastFailure = -Infinity;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  constructor(
    private readonly cfg: SpaceConfig,
    /** The file records go into now. */
    private readonly current: () => Segment,
    /** Sequence number for the next new file. */
    public nextSeq: number,
  ) {}

  get busy(): boolean {
    return this.preparing;
  }

  /** Bytes that reserved records can certainly be written into. */
  capacity(): number {
    const m = this.cfg.maxRecord;
    const cur = this.current();
    let c = Math.max(0, cur.size - cur.pos - m);
    for (const s of this.spares) c += s.size - HEADER_SIZE - m;
    return c;
  }

  /** Grants n bytes if the space for them and every earlier reservation exists (preparing a spare now if needed). */
  reserve(n: number): boolean {
    if (this.closed) return false;
    if (this.reserved + n > this.capacity()) {
      if (!this.addSpareSync() || this.reserved + n > this.capacity()) return false;
    }
    this.reserved += n;
    if (this.capacity() - this.reserved < this.cfg.fileSize / 2) this.topUp();
    return true;
  }

  /** A reserved record was written (or a recovered job's delete must be covered: pass a negative n). */
  consume(n: number): void {
    this.reserved = Math.max(0, this.reserved - n);
  }

  /** The next spare, to become the current file (prepared now, blocking, if none is ready); call topUp() once it is current. */
  takeSpare(quiet = false): Segment | undefined {
    let next = this.spares.shift();
    if (!next) {
      // Outside start-up only reached if the reservations were wrong; better to block than to lose a record.
      if (!quiet) this.cfg.log("WARNING: no spare log file was ready; preparing one synchronously");
      if (!this.addSpareSync()) {
        this.lastFailure = -Infinity;
        if (!this.addSpareSync()) return undefined;
      }
      next = this.spares.shift()!;
    }
    return next;
  }

  /** Prepares one more spare file now (blocking); false if that is impossible. */
  addSpareSync(): boolean {
    if (performance.now() - this.lastFailure < RETRY_MS) return false;
    const seq = this.nextSeq++;
    const path = segmentPath(this.cfg.dir, seq);
    try {
      const { fd, size } = preallocateSync(path, this.cfg.fileSize, this.cfg.minFile);
      syncDir(this.cfg.dir);
      this.spares.push(newSegment(this.cfg.dir, seq, fd, size));
      if (size < this.cfg.fileSize) this.cfg.log(`the disk is nearly full: ${path} holds ${size} bytes instead of ${this.cfg.fileSize}`);
      return true;
    } catch (e) {
      this.failed(path, e);
      return false;
    }
  }

  private failed(path: string, e: unknown): void {
    const first = this.lastFailure === -Infinity || performance.now() - this.lastFailure > 10 * RETRY_MS;
    this.lastFailure = performance.now();
    if (first) {
      this.cfg.log(
        `ERROR: cannot preallocate the log file ${path}: ${describe(e)}. ` +
          `New jobs are refused (OUT_OF_MEMORY) until space returns; deletes still work`,
      );
    }
    if (!this.retry && !this.closed) {
      this.retry = setTimeout(() => {
        this.retry = null;
        this.topUp();
      }, RETRY_MS);
    }
  }

  /** Keeps at least one spare file ready, and enough for the reservations, preparing them off the event loop. */
  topUp(): void {
    if (this.preparing || this.closed) return;
    if (this.spares.length >= 1 && this.capacity() - this.reserved >= this.cfg.fileSize / 2) return;
    this.preparing = true;
    const seq = this.nextSeq++;
    const path = segmentPath(this.cfg.dir, seq);
    preallocate(path, this.cfg.fileSize, this.cfg.minFile, (err, fd, size) => {
      if (err) {
        this.preparing = false;
        this.nextSeq = Math.max(this.nextSeq, seq + 1);
        this.failed(path, err);
        return;
      }
      // The new name must be durable before records go into the file; off the event loop.
      if (size < this.cfg.fileSize) this.cfg.log(`the disk is nearly full: ${path} holds ${size} bytes instead of ${this.cfg.fileSize}`);
      syncDirAsync(this.cfg.dir, () => this.ready(newSegment(this.cfg.dir, seq, fd, size)));
    });
  }

  private ready(seg: Segment): void {
    this.preparing = false;
    if (this.closed) {
      fs.closeSync(seg.fd);
      return;
    }
    if (this.lastFailure !== -Infinity) {
      this.cfg.log(`log files can be preallocated again in ${this.cfg.dir}; new jobs are accepted`);
      this.lastFailure = -Infinity;
    }
    // Spares must be used in sequence order: a synchronous one may have overtaken this one.
    this.spares.push(seg);
    this.spares.sort((a, b) => a.seq - b.seq);
    this.topUp();
  }

  /** Shutdown: spares stay on disk (files of zeros), so a restart on a full disk still has its room. */
  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    for (const s of this.spares) fs.closeSync(s.fd);
    this.spares.length = 0;
  }

  /** Free bytes: capacity not yet promised. */
  free(): number {
    return this.capacity() - this.reserved;
  }
}
