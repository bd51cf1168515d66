/**
 * The write-ahead log: a Journal that appends records to preallocated files
 * with group commit.
 *
 * Records are encoded into a reusable buffer as the queue reports changes.
 * At the end of the event that produced them they are written with one
 * pwrite per file; then, depending on the mode:
 *
 * - "always" (-f 0): one fdatasync for the whole batch, off the event loop;
 *   `durable` advances when it completes and held replies are released. The
 *   records that arrive meanwhile form the next batch, started as soon as the
 *   sync ends: many connections' records share one fsync.
 * - "interval" (-f MS): replies leave once their records are written to the
 *   kernel (they survive a crash of the process); a timer fsyncs within MS ms
 *   of the first unsynced write, whether or not more writes come.
 * - "never" (-F): written to the kernel, never fsynced.
 *
 * Space (see FORMAT.md): every record the log may still have to write is
 * reserved in advance - a put reserves its own record and its delete - and
 * reservations are only granted while preallocated space covers them, so a
 * full disk refuses puts (OUT_OF_MEMORY) but a delete always has room.
 *
 * Errors: a failed write or fsync is logged loudly, puts are refused, held
 * replies stay held, and the batch is retried every second until it succeeds.
 */
import * as fs from "node:fs";
import type { Journal, JournalStats } from "../queue/journal.ts";
import { JobState } from "../queue/jobs.ts";
import type { Queue } from "../queue/queue.ts";
import { WalError, codeOf, describe } from "./errors.ts";
import {
  DELETE_SIZE,
  HEADER_SIZE,
  ST_BURIED,
  ST_DELAYED,
  ST_READY,
  encodeDelete,
  encodeHeader,
  encodeJob,
  encodeTubeName,
  jobRecordSize,
  type JobFields,
} from "./format.ts";
import type { Recovery } from "./recover.ts";
import { newSegment, preallocate, preallocateSync, segmentPath, syncDir, type Segment } from "./segment.ts";
import type { DirLock } from "./lock.ts";

export type SyncMode = "always" | "interval" | "never";

export interface WalConfig {
  dir: string;
  mode: SyncMode;
  /** For "interval": the most milliseconds an acknowledged record may stay unsynced. */
  fsyncMs: number;
  fileSize: number;
  compact: boolean;
  /** Largest record a job can need (its body at the maximum job size, a 200-byte tube name). */
  maxRecord: number;
  log: (msg: string) => void;
}

interface Chunk {
  seg: Segment;
  pos: number;
  start: number;
  end: number;
}

interface Batch {
  buf: Uint8Array;
  chunks: Chunk[];
  endSeq: number;
}

const RETRY_MS = 1000;
/** After the I/O callbacks of this turn of the event loop. */
const later: (fn: () => void) => void =
  typeof globalThis.setImmediate === "function" ? (fn) => void globalThis.setImmediate(fn) : (fn) => void setTimeout(fn, 0);
const MAX_TUBE = 200;
/** Store slots examined per compaction step. */
const SCAN_STEP = 65536;

export class Wal implements Journal {
  written = 0;
  /** Records handed to the kernel. */
  private osSeq = 0;
  /** Records on disk (fsynced; for "never", handed to the kernel). */
  private syncSeq = 0;

  private queue: Queue | null = null;
  private readonly cfg: WalConfig;
  private readonly lock: DirLock;
  private recovery: Recovery | null;

  /** Files with data, oldest first; the last one is current. */
  private readonly files: Segment[] = [];
  private readonly bySeq = new Map<number, Segment>();
  /** Preallocated files not yet used, in order. */
  private readonly spares: Segment[] = [];
  private nextSeq: number;
  private preparing = false;
  private lastPrepFailure = -Infinity;
  private prepRetry: ReturnType<typeof setTimeout> | null = null;

  /** Bytes of records the log has promised to be able to write. */
  private reserved = 0;
  /** Bytes of the latest records of live jobs. */
  private liveBytes = 0;

  // Encoding: records go into `enc`, described by `chunks` (contiguous runs per file).
  private enc: Uint8Array = new Uint8Array(1 << 20);
  private encView: DataView = new DataView(this.enc.buffer);
  private encLen = 0;
  private chunks: Chunk[] = [];
  private freeBuf: Uint8Array | null = null;

  private flushQueued = false;
  private inflight: Batch | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  /** Set while writes or syncs fail: puts are refused. */
  private failing: string | null = null;

  // "interval" mode.
  private syncTimer: ReturnType<typeof setTimeout> | null = null;
  private syncing = false;
  private lastSync = 0;
  private readonly dirty = new Set<Segment>();

  private readonly waitSeq: number[] = [];
  private readonly waitFn: (() => void)[] = [];
  private waitHead = 0;

  private readonly tubeBytes = new Map<string, Uint8Array>();
  private readonly fields: JobFields = {
    state: 0, pri: 0, delay: 0, ttr: 0, id: 0, created: 0, deadline: 0,
    reserves: 0, timeouts: 0, releases: 0, buries: 0, kicks: 0,
  };

  private recordsWritten = 0;
  private recordsMigrated = 0;
  private scanSlot = 0;
  private scanSeq = 0;
  private bytesSinceCompact = 0;
  private closed = false;

  constructor(cfg: WalConfig, lock: DirLock, recovery: Recovery) {
    this.cfg = cfg;
    this.lock = lock;
    this.recovery = recovery;
    for (const f of recovery.files) {
      const seg = newSegment(cfg.dir, f.seq, -1, f.size);
      seg.pos = f.size;
      this.files.push(seg);
      this.bySeq.set(seg.seq, seg);
    }
    this.nextSeq = recovery.maxSeq + 1;
    // The first current file is created and its header made durable before
    // anything else, so the highest job id is never only in files that compaction may remove.
    const seq = this.nextSeq++;
    const path = segmentPath(cfg.dir, seq);
    let fd: number;
    try {
      fd = preallocateSync(path, cfg.fileSize);
    } catch (e) {
      throw new WalError(
        codeOf(e) === "ENOSPC"
          ? `no space left in ${cfg.dir} for a new log file of ${cfg.fileSize} bytes; free some space (or use a smaller -s)`
          : `cannot create the log file ${path}: ${describe(e)}`,
      );
    }
    const cur = newSegment(cfg.dir, seq, fd, cfg.fileSize);
    const head = new Uint8Array(HEADER_SIZE);
    encodeHeader(head, 0, seq, recovery.nextId);
    try {
      fs.writeSync(fd, head, 0, HEADER_SIZE, 0);
      fs.fdatasyncSync(fd);
    } catch (e) {
      throw new WalError(`cannot write the log file ${path}: ${describe(e)}`);
    }
    syncDir(cfg.dir);
    cur.pos = HEADER_SIZE;
    this.files.push(cur);
    this.bySeq.set(seq, cur);
  }

  get durable(): number {
    return this.cfg.mode === "always" ? this.syncSeq : this.osSeq;
  }

  private get current(): Segment {
    return this.files[this.files.length - 1]!;
  }

  // ---- start-up ------------------------------------------------------------

  /** Puts the recovered jobs into the queue; called once, before the server listens. */
  attach(queue: Queue): void {
    this.queue = queue;
    const rec = this.recovery;
    this.recovery = null;
    if (!rec) return;
    const now = Date.now();
    const ids = [...rec.jobs.keys()].sort((a, b) => a - b);
    for (const id of ids) {
      const j = rec.jobs.get(id)!;
      const state =
        j.state === ST_BURIED ? JobState.Buried : j.state === ST_DELAYED ? JobState.Delayed : JobState.Ready;
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
      const seg = this.bySeq.get(j.seq)!;
      queue.store.persist[slot] = seg.seq;
      seg.live++;
      this.liveBytes += j.size;
      this.reserved += DELETE_SIZE;
    }
    if (rec.nextId > queue.nextId) queue.nextId = rec.nextId;
    rec.jobs.clear();
    // Every recovered job must be deletable: make sure its delete has room.
    for (let i = 0; this.reserved > this.capacity(); i++) {
      if (!this.addSpareSync() || i > 1_000_000) {
        throw new WalError(
          `no space left in ${this.cfg.dir} to reserve room for deleting the ${ids.length} recovered jobs; free some space`,
        );
      }
    }
    for (const n of rec.notes) this.cfg.log(n);
    if (ids.length || rec.records) {
      this.cfg.log(
        `recovered ${ids.length} jobs from ${rec.files.length} log files (${rec.records} records); next job id ${queue.nextId}`,
      );
    }
    this.topUpSpares();
    this.compactStep();
  }

  // ---- Journal -------------------------------------------------------------

  reservePut(slot: number): boolean {
    return this.reserve(this.recordSize(slot) + DELETE_SIZE);
  }

  reserveUpdate(slot: number): boolean {
    return this.reserve(this.recordSize(slot));
  }

  write(slot: number): void {
    const size = this.recordSize(slot);
    this.reserved = Math.max(0, this.reserved - size);
    this.appendJob(slot, size);
  }

  delete(slot: number): void {
    const q = this.queue!;
    const s = q.store;
    this.reserved = Math.max(0, this.reserved - DELETE_SIZE);
    const seg = this.place(DELETE_SIZE);
    const at = this.encLen;
    this.encLen += encodeDelete(this.enc, this.encView, at, s.id[slot]!);
    this.written++;
    seg.lastSeq = this.written;
    const home = this.bySeq.get(s.persist[slot]!);
    if (home) {
      home.live--;
      home.releasedAt = this.written;
      this.liveBytes -= this.recordSize(slot);
    }
    s.persist[slot] = 0;
    this.recordsWritten++;
    this.bytesSinceCompact += DELETE_SIZE;
    this.scheduleFlush();
  }

  whenDurable(seq: number, fn: () => void): void {
    if (this.durable >= seq) {
      fn();
      return;
    }
    this.waitSeq.push(seq);
    this.waitFn.push(fn);
    this.scheduleFlush();
  }

  stats(): JournalStats {
    return {
      oldestIndex: this.files[0]?.seq ?? 0,
      currentIndex: this.current.seq,
      recordsMigrated: this.recordsMigrated,
      recordsWritten: this.recordsWritten,
      maxSize: this.cfg.fileSize,
    };
  }

  /** Writes and syncs everything, then releases the files and the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (let i = 0; i < 200 && (this.inflight || this.syncing || this.preparing); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.closed = true;
    for (const t of [this.retryTimer, this.syncTimer, this.prepRetry]) if (t) clearTimeout(t);
    try {
      const b = this.takePending();
      if (b) this.writeChunks(b);
      if (this.cfg.mode !== "never") for (const f of this.files) if (f.fd >= 0) fs.fdatasyncSync(f.fd);
    } catch (e) {
      this.cfg.log(`ERROR: could not write the last records at shutdown: ${describe(e)}`);
    }
    for (const f of this.files) if (f.fd >= 0) fs.closeSync(f.fd);
    for (const s of this.spares) {
      fs.closeSync(s.fd);
      fs.rmSync(s.path, { force: true });
    }
    this.spares.length = 0;
    this.lock.release();
  }

  // ---- space ---------------------------------------------------------------

  private recordSize(slot: number): number {
    const q = this.queue!;
    return jobRecordSize(this.tubeName(q.tubeOf(slot).name).length, q.store.size[slot]! - 2);
  }

  private tubeName(name: string): Uint8Array {
    let b = this.tubeBytes.get(name);
    if (!b) {
      b = encodeTubeName(name);
      if (this.tubeBytes.size > 10000) this.tubeBytes.clear();
      this.tubeBytes.set(name, b);
    }
    return b;
  }

  /**
   * Bytes that reserved records can certainly be written into: the current
   * file's tail and the spare files, each less one largest record (a record
   * that does not fit at the end of a file leaves that much unused).
   */
  private capacity(): number {
    const m = this.cfg.maxRecord;
    const cur = this.current;
    let c = Math.max(0, cur.size - cur.pos - m);
    for (const s of this.spares) c += s.size - HEADER_SIZE - m;
    return c;
  }

  private reserve(n: number): boolean {
    if (this.failing !== null || this.closed) return false;
    if (this.reserved + n > this.capacity()) {
      if (!this.addSpareSync() || this.reserved + n > this.capacity()) return false;
    }
    this.reserved += n;
    if (this.capacity() - this.reserved < this.cfg.fileSize / 2) this.topUpSpares();
    return true;
  }

  /** Prepares one more spare file now (blocking); false if that is impossible. */
  private addSpareSync(): boolean {
    if (performance.now() - this.lastPrepFailure < RETRY_MS) return false;
    const seq = this.nextSeq++;
    const path = segmentPath(this.cfg.dir, seq);
    try {
      const fd = preallocateSync(path, this.cfg.fileSize);
      syncDir(this.cfg.dir);
      this.spares.push(newSegment(this.cfg.dir, seq, fd, this.cfg.fileSize));
      return true;
    } catch (e) {
      this.prepFailed(path, e);
      return false;
    }
  }

  private prepFailed(path: string, e: unknown): void {
    const first = this.lastPrepFailure === -Infinity || performance.now() - this.lastPrepFailure > 10 * RETRY_MS;
    this.lastPrepFailure = performance.now();
    if (first) {
      this.cfg.log(
        `ERROR: cannot preallocate the log file ${path}: ${describe(e)}. ` +
          `New jobs are refused (OUT_OF_MEMORY) until space returns; deletes still work`,
      );
    }
    if (!this.prepRetry && !this.closed) {
      this.prepRetry = setTimeout(() => {
        this.prepRetry = null;
        this.topUpSpares();
      }, RETRY_MS);
    }
  }

  /** Keeps at least one spare file ready, and enough for the reservations, preparing them off the event loop. */
  private topUpSpares(): void {
    if (this.preparing || this.closed) return;
    if (this.spares.length >= 1 && this.capacity() - this.reserved >= this.cfg.fileSize / 2) return;
    this.preparing = true;
    const seq = this.nextSeq++;
    const path = segmentPath(this.cfg.dir, seq);
    preallocate(path, this.cfg.fileSize, (err, fd) => {
      this.preparing = false;
      if (err) {
        this.nextSeq = Math.max(this.nextSeq, seq + 1);
        this.prepFailed(path, err);
        return;
      }
      if (this.closed) {
        fs.closeSync(fd);
        fs.rmSync(path, { force: true });
        return;
      }
      syncDir(this.cfg.dir);
      if (this.lastPrepFailure !== -Infinity) {
        this.cfg.log(`log files can be preallocated again in ${this.cfg.dir}; new jobs are accepted`);
        this.lastPrepFailure = -Infinity;
      }
      // Spares must be used in sequence order: a synchronous one may have overtaken this one.
      const seg = newSegment(this.cfg.dir, seq, fd, this.cfg.fileSize);
      this.spares.push(seg);
      this.spares.sort((a, b) => a.seq - b.seq);
      this.topUpSpares();
    });
  }

  // ---- encoding --------------------------------------------------------------

  /** Room for a record of n bytes in the current file (moving to the next file if needed); grows the buffer. */
  private place(n: number): Segment {
    let cur = this.current;
    if (cur.pos + n > cur.size) cur = this.roll();
    if (this.encLen + n > this.enc.length) this.growEnc(n);
    const last = this.chunks[this.chunks.length - 1];
    if (last && last.seg === cur && last.end === this.encLen && last.pos + (last.end - last.start) === cur.pos) {
      last.end += n;
    } else {
      this.chunks.push({ seg: cur, pos: cur.pos, start: this.encLen, end: this.encLen + n });
    }
    cur.pos += n;
    return cur;
  }

  private growEnc(n: number): void {
    const b = new Uint8Array(Math.max(this.enc.length * 2, this.encLen + n + 1024));
    b.set(this.enc.subarray(0, this.encLen));
    this.enc = b;
    this.encView = new DataView(b.buffer);
  }

  /** The next spare becomes the current file; its header is the first record written into it. */
  private roll(): Segment {
    let next = this.spares.shift();
    if (!next) {
      // Only reached if the reservations were wrong; better to block than to lose a record.
      this.cfg.log("WARNING: no spare log file was ready; preparing one synchronously");
      if (!this.addSpareSync()) {
        this.lastPrepFailure = -Infinity;
        if (!this.addSpareSync()) throw new WalError(`cannot create a log file in ${this.cfg.dir}`);
      }
      next = this.spares.shift()!;
    }
    this.files.push(next);
    this.bySeq.set(next.seq, next);
    if (this.encLen + HEADER_SIZE > this.enc.length) this.growEnc(HEADER_SIZE);
    encodeHeader(this.enc, this.encLen, next.seq, this.queue!.nextId);
    this.chunks.push({ seg: next, pos: 0, start: this.encLen, end: this.encLen + HEADER_SIZE });
    this.encLen += HEADER_SIZE;
    next.pos = HEADER_SIZE;
    this.written++;
    next.headerSeq = next.lastSeq = this.written;
    this.topUpSpares();
    return next;
  }

  private appendJob(slot: number, size: number): void {
    const q = this.queue!;
    const s = q.store;
    const seg = this.place(size);
    const f = this.fields;
    const st = s.state[slot];
    const wallNow = Date.now();
    const now = q.clock.now();
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
    const bodyLen = s.size[slot]! - 2;
    const at = this.encLen;
    this.encLen += encodeJob(this.enc, this.encView, at, f, this.tubeName(q.tubeOf(slot).name), s.bodyOf(slot), bodyLen);
    this.written++;
    seg.lastSeq = this.written;
    const old = s.persist[slot]!;
    if (old !== 0) {
      const home = this.bySeq.get(old);
      if (home) {
        home.live--;
        home.releasedAt = this.written;
      }
    } else {
      this.liveBytes += size;
    }
    seg.live++;
    s.persist[slot] = seg.seq;
    this.recordsWritten++;
    this.bytesSinceCompact += size;
    this.scheduleFlush();
  }

  // ---- writing -------------------------------------------------------------

  /**
   * Writes happen once per turn of the event loop, after the reads of that
   * turn were processed: one pwrite for every connection's records.
   */
  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    if (this.cfg.mode === "always") queueMicrotask(this.flushNow);
    else later(this.flushNow);
  }

  private readonly flushNow = (): void => {
    this.flushQueued = false;
    if (this.cfg.mode === "always") this.startBatch();
    else this.flushSync();
  };

  private takePending(): Batch | null {
    if (this.chunks.length === 0) return null;
    const b: Batch = { buf: this.enc, chunks: this.chunks, endSeq: this.written };
    const next = this.freeBuf && this.freeBuf.length >= 1 << 20 ? this.freeBuf : new Uint8Array(1 << 20);
    this.freeBuf = null;
    this.enc = next;
    this.encView = new DataView(next.buffer);
    this.encLen = 0;
    this.chunks = [];
    return b;
  }

  private recycle(b: Batch): void {
    if (b.buf.length <= 16 << 20) this.freeBuf = b.buf;
  }

  private writeChunks(b: Batch): void {
    for (const c of b.chunks) {
      if (c.seg.fd < 0) throw new WalError(`log file ${c.seg.path} is not open`);
      for (let off = c.start; off < c.end; ) {
        off += fs.writeSync(c.seg.fd, b.buf, off, c.end - off, c.pos + (off - c.start));
      }
    }
  }

  /** "always": write the pending records, then fdatasync them off the event loop. */
  private startBatch(): void {
    if (this.inflight || this.retryTimer || this.closed) return;
    const b = this.takePending();
    if (!b) return;
    this.inflight = b;
    this.runBatch(b);
  }

  private runBatch(b: Batch): void {
    try {
      this.writeChunks(b);
    } catch (e) {
      this.batchFailed(b, "write", e);
      return;
    }
    if (b.endSeq > this.osSeq) this.osSeq = b.endSeq;
    const segs = new Set<Segment>();
    for (const c of b.chunks) segs.add(c.seg);
    let left = segs.size;
    let error: unknown = null;
    for (const seg of segs) {
      fs.fdatasync(seg.fd, (e) => {
        if (e) error = e;
        if (--left > 0) return;
        if (error) this.batchFailed(b, "fsync", error);
        else this.batchDone(b);
      });
    }
  }

  private batchFailed(b: Batch, what: string, e: unknown): void {
    this.setFailing(`${what} of the log failed: ${describe(e)}`);
    if (this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.runBatch(b);
    }, RETRY_MS);
  }

  private batchDone(b: Batch): void {
    this.inflight = null;
    if (b.endSeq > this.syncSeq) this.syncSeq = b.endSeq;
    this.recycle(b);
    this.clearFailing();
    this.wake();
    this.compactStep();
    this.startBatch();
  }

  /** "interval" and "never": hand the pending records to the kernel now. */
  private flushSync(): void {
    if (this.retryTimer || this.closed) return;
    const b = this.takePending();
    if (!b) return;
    this.writeSyncBatch(b);
  }

  private writeSyncBatch(b: Batch): void {
    try {
      this.writeChunks(b);
    } catch (e) {
      this.setFailing(`write of the log failed: ${describe(e)}`);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.writeSyncBatch(b);
        this.flushSync();
      }, RETRY_MS);
      return;
    }
    if (b.endSeq > this.osSeq) this.osSeq = b.endSeq;
    for (const c of b.chunks) this.dirty.add(c.seg);
    this.recycle(b);
    if (this.cfg.mode === "never") {
      this.syncSeq = this.osSeq;
      this.dirty.clear();
      this.clearFailing();
      this.compactStep();
    } else {
      this.scheduleSync();
    }
    this.wake();
  }

  private scheduleSync(): void {
    if (this.syncTimer || this.syncing || this.closed || this.syncSeq >= this.osSeq) return;
    const wait = Math.max(0, this.lastSync + this.cfg.fsyncMs - performance.now());
    this.syncTimer = setTimeout(() => {
      this.syncTimer = null;
      this.runSync();
    }, wait);
  }

  private runSync(): void {
    if (this.closed) return;
    this.syncing = true;
    const target = this.osSeq;
    const segs = [...this.dirty];
    this.dirty.clear();
    let left = segs.length;
    let error: unknown = null;
    const done = (): void => {
      this.syncing = false;
      this.lastSync = performance.now();
      if (error) {
        for (const s of segs) this.dirty.add(s);
        this.setFailing(`fsync of the log failed: ${describe(error)}`);
        this.syncTimer = setTimeout(() => {
          this.syncTimer = null;
          this.runSync();
        }, RETRY_MS);
        return;
      }
      if (target > this.syncSeq) this.syncSeq = target;
      this.clearFailing();
      this.compactStep();
      this.scheduleSync();
    };
    if (left === 0) return done();
    for (const seg of segs) {
      fs.fdatasync(seg.fd, (e) => {
        if (e) error = e;
        if (--left === 0) done();
      });
    }
  }

  private setFailing(msg: string): void {
    if (this.failing === null) {
      this.cfg.log(
        `ERROR: ${msg}. Jobs are NOT safe until this is fixed: new jobs are refused (OUT_OF_MEMORY), ` +
          `replies that need the log are held, and the write is retried every ${RETRY_MS / 1000} s`,
      );
    }
    this.failing = msg;
  }

  private clearFailing(): void {
    if (this.failing === null) return;
    this.cfg.log(`the log works again (after: ${this.failing}); new jobs are accepted`);
    this.failing = null;
  }

  private wake(): void {
    const d = this.durable;
    const seqs = this.waitSeq;
    const fns = this.waitFn;
    while (this.waitHead < seqs.length && seqs[this.waitHead]! <= d) {
      const fn = fns[this.waitHead]!;
      this.waitHead++;
      fn();
    }
    if (this.waitHead === seqs.length) {
      seqs.length = 0;
      fns.length = 0;
      this.waitHead = 0;
    } else if (this.waitHead > 1024) {
      seqs.splice(0, this.waitHead);
      fns.splice(0, this.waitHead);
      this.waitHead = 0;
    }
  }

  // ---- compaction ------------------------------------------------------------

  /** Removes leading files nothing needs any more; rewrites live jobs out of the oldest file when the log is mostly garbage. */
  private compactStep(): void {
    if (this.closed || !this.queue) return;
    const cur = this.current;
    // Close files that will not be written or synced again.
    for (let i = 0; i < this.files.length - 1; i++) {
      const f = this.files[i]!;
      if (f.fd >= 0 && this.syncSeq >= f.lastSeq && this.osSeq >= f.lastSeq) {
        fs.close(f.fd, () => {});
        f.fd = -1;
        this.dirty.delete(f);
      }
    }
    let removed = false;
    while (this.files.length > 1) {
      const f = this.files[0]!;
      if (f.live > 0 || f.fd >= 0) break;
      if (this.syncSeq < f.releasedAt || this.syncSeq < f.lastSeq || this.syncSeq < cur.headerSeq) break;
      this.files.shift();
      this.bySeq.delete(f.seq);
      try {
        fs.unlinkSync(f.path);
        removed = true;
      } catch (e) {
        if (codeOf(e) !== "ENOENT") this.cfg.log(`WARNING: cannot remove the old log file ${f.path}: ${describe(e)}`);
      }
    }
    if (removed) syncDir(this.cfg.dir);
    if (!this.cfg.compact || this.files.length < 3 || this.failing !== null) return;
    const onDisk = this.files.length * this.cfg.fileSize;
    if (onDisk <= 2 * this.liveBytes + 2 * this.cfg.fileSize) return;
    const oldest = this.files[0]!;
    if (oldest.live === 0) return;
    this.migrate(oldest, Math.max(64 << 10, this.bytesSinceCompact));
    this.bytesSinceCompact = 0;
  }

  /** Rewrites up to `budget` bytes of live jobs whose latest record is in `from` into the current file. */
  private migrate(from: Segment, budget: number): void {
    const s = this.queue!.store;
    if (this.scanSeq !== from.seq) {
      this.scanSeq = from.seq;
      this.scanSlot = 0;
    }
    const end = Math.min(s.capacity, this.scanSlot + SCAN_STEP);
    let moved = 0;
    let i = this.scanSlot;
    for (; i < end && moved < budget && from.live > 0; i++) {
      if (s.persist[i] !== from.seq || s.state[i] === JobState.Invalid) continue;
      const size = this.recordSize(i);
      if (!this.reserve(size)) break;
      this.write(i);
      this.recordsMigrated++;
      moved += size;
    }
    this.scanSlot = i >= s.capacity ? 0 : i;
  }
}

export const MAX_TUBE_NAME = MAX_TUBE;
