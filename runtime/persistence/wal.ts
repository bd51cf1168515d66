/**
 * The write-ahead log: the Journal the queue reports its changes to.
 *
 * Records are encoded into the record buffer (buffer.ts) as changes happen
 * and written once per event by the sync policy of the -f/-F mode
 * (sync.ts); replies wait for them through the durability waiters
 * (waiters.ts). Every record is reserved in advance with the space ledger
 * (space.ts), and compaction (compaction.ts) keeps disk use close to the
 * live data. What a job's record holds is job-record.ts's; FORMAT.md
 * describes the bytes.
 *
 * Which file records go into is files.ts's business. The log never holds the queue: it reads job fields through a JobSource
 * (the store's columns, a tube name, the clock), and recovery hands back
 * data that the server's wiring restores into the queue, telling the log
 * where each job lives (`adopt`).
 *
 * Errors: a failed write or fsync is logged loudly (FailureState), puts are
 * refused, held replies stay held, and the batch is retried every second
 * until it works.
 */
import * as fs from "node:fs";
import { JobState, type JobStore } from "../queue/jobs.ts";
import type { Journal, JournalStats } from "../queue/journal.ts";
import { type Batch, RecordBuffer } from "./buffer.ts";
import { Compactor } from "./compaction.ts";
import { describe } from "./errors.ts";
import { LogFiles } from "./files.ts";
import { DELETE_SIZE, encodeDelete, encodeHeader, HEADER_SIZE } from "./format.ts";
import { ID_BLOCK, IdMark } from "./idmark.ts";
import { JobRecords, type JobSource } from "./job-record.ts";
import type { DirLock } from "./lock.ts";
import type { RecoveredJob, Recovery } from "./recover.ts";
import { newSegment, type Segment } from "./segment.ts";
import { SpaceLedger } from "./space.ts";
import { FailureState, type SyncMode, type SyncPolicy, syncPolicy } from "./sync.ts";
import { DurabilityWaiters } from "./waiters.ts";

export type { JobSource } from "./job-record.ts";
export type { SyncMode } from "./sync.ts";

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

export const MAX_TUBE_NAME = 200;

export class Wal implements Journal {
  written = 0;

  private readonly log: LogFiles;
  /** Bytes of the latest records of live jobs. */
  liveBytes = 0;
  /** Set while writes or syncs fail: puts are refused. */
  private readonly failure: FailureState;

  private source: JobSource | null = null;
  private readonly cfg: WalConfig;
  private readonly lock: DirLock;
  private readonly space: SpaceLedger;
  private readonly buffer = new RecordBuffer();
  readonly sync: SyncPolicy;
  private readonly waiters = new DurabilityWaiters();
  private readonly compactor: Compactor;

  private readonly records = new JobRecords();
  private recordsWritten = 0;
  /** Above every job id the log has seen (recovered or written): what new files' headers record. */
  private idMark: number;
  /** The ids file (null if it could not be created: ids after damage then rest on the records alone). */
  private readonly ids: IdMark | null;
  /** A reservation was refused for lack of space since the last one granted: compaction works to free room. */
  spaceShort = false;
  private carryDeletes: number[] = [];
  private closed = false;

  constructor(cfg: WalConfig, lock: DirLock, recovery: Recovery) {
    this.cfg = cfg;
    this.lock = lock;
    this.idMark = recovery.nextId;
    this.failure = new FailureState(cfg.log);
    this.log = new LogFiles(cfg, (seg) => this.started(seg));
    for (const f of recovery.files) {
      const seg = newSegment(cfg.dir, f.seq, -1, f.size);
      seg.pos = f.end;
      seg.version = f.version;
      seg.key = f.key;
      seg.damaged = f.damage.length > 0;
      this.log.add(seg);
    }
    const minFile = Math.ceil((HEADER_SIZE + 2 * cfg.maxRecord) / 4096) * 4096;
    this.space = new SpaceLedger({ ...cfg, minFile }, () => this.current, recovery.maxSeq + 1);
    this.log.space = this.space;
    for (const sp of recovery.spares) this.space.spares.push(newSegment(cfg.dir, sp.seq, fs.openSync(sp.path, "r+"), sp.size));
    this.sync = syncPolicy(cfg.mode, cfg.fsyncMs, {
      take: () => this.buffer.take(this.written),
      recycle: (b: Batch) => this.buffer.recycle(b),
      onDurable: () => this.waiters.wake(this.durable),
      onSynced: () => this.compactStep(),
      setFailing: (m: string) => this.failure.set(m),
      clearFailing: () => this.failure.clear(),
    });
    this.compactor = new Compactor({ dir: cfg.dir, fileSize: cfg.fileSize, rewrite: cfg.compact, log: cfg.log }, this);
    this.ids = IdMark.openOrWarn(cfg.dir, recovery.idMark, recovery.nextId + ID_BLOCK, cfg.log);
    this.carryDeletes = recovery.carryDeletes;
    this.log.openCurrent();
  }

  get durable(): number {
    return this.sync.durable;
  }

  get failing(): boolean {
    return this.failure.failing;
  }

  get store(): JobStore {
    return this.source!.store;
  }

  private get current(): Segment {
    return this.log.current;
  }

  /** Files with data, oldest first; the last one is current. */
  get files(): Segment[] {
    return this.log.list;
  }

  get bySeq(): Map<number, Segment> {
    return this.log.bySeq;
  }

  private place(n: number): Segment {
    return this.log.place(n);
  }

  /** A file became current: its header is the first record written into it. */
  private started(seg: Segment): void {
    const at = this.buffer.append(seg, HEADER_SIZE);
    encodeHeader(this.buffer.buf, at, seg.seq, this.idMark, seg.key);
    this.buffer.len += HEADER_SIZE;
    this.written++;
    seg.headerSeq = seg.lastSeq = this.written;
  }

  // ---- start-up ------------------------------------------------------------

  /** The jobs' fields are read through `source` from now on; called once, before any job is restored or written. */
  bind(source: JobSource): void {
    this.source = source;
  }

  /** A recovered job now lives in `slot`: its latest record is in file `job.seq`, and its delete must have room. */
  adopt(slot: number, job: RecoveredJob): void {
    const seg = this.bySeq.get(job.seq)!;
    this.store.persist[slot] = seg.seq;
    seg.live++;
    seg.liveBytes += job.size;
    this.liveBytes += job.size;
    this.space.reserved += DELETE_SIZE;
  }

  /** Called once every recovered job was adopted, before the server listens. */
  start(recovery: Recovery): void {
    for (const n of recovery.notes) this.cfg.log(n);
    // Every recovered job must be deletable: make sure its delete has room.
    while (this.space.reserved > this.space.capacity() && this.space.addSpareSync());
    if (this.space.reserved > this.space.capacity()) {
      this.spaceShort = true;
      this.cfg.log(
        `WARNING: no space left in ${this.cfg.dir} to reserve room for deleting the ${recovery.jobs.size} recovered jobs: ` +
          `serving them anyway; new jobs are refused (OUT_OF_MEMORY) until deletes or freed space make room`,
      );
    }
    if (recovery.jobs.size || recovery.records) {
      this.cfg.log(
        `recovered ${recovery.jobs.size} jobs from ${recovery.files.length} log files (${recovery.records} records); ` +
          `next job id ${recovery.nextId}`,
      );
    }
    this.evacuate();
    this.space.topUp();
    this.compactStep();
  }

  /** Rewrites the valid records of damaged files (live jobs, and deletes older files may need) so the files can be moved aside. */
  private evacuate(): void {
    const damaged = this.files.filter((f) => f.damaged && f !== this.current);
    if (!damaged.length) return;
    const s = this.store;
    let ok = true;
    for (let slot = 0; slot < s.capacity && ok; slot++) {
      const seg = s.persist[slot] ? this.bySeq.get(s.persist[slot]!) : undefined;
      if (seg?.damaged && s.state[slot] !== JobState.Invalid) ok = this.rewrite(slot) > 0;
    }
    for (const id of this.carryDeletes) {
      if (!ok) break;
      ok = this.reserve(DELETE_SIZE);
      if (ok) this.appendDelete(id);
    }
    this.carryDeletes = [];
    for (const f of damaged) {
      if (!ok) {
        this.cfg.log(`${f.path} stays until there is room to rewrite its valid records (it is read the same way at each start)`);
        continue;
      }
      f.evacuated = true;
      f.releasedAt = this.written;
    }
  }

  // ---- Journal -------------------------------------------------------------

  reservePut(slot: number): boolean {
    const ok = this.reserve(this.recordSize(slot) + DELETE_SIZE);
    if (!this.failure.failing) this.spaceShort = !ok;
    return ok;
  }

  reserveUpdate(slot: number): boolean {
    return this.reserve(this.recordSize(slot));
  }

  write(slot: number): void {
    const size = this.recordSize(slot);
    this.space.consume(size);
    this.appendJob(slot, size);
  }

  delete(slot: number): void {
    const s = this.store;
    this.space.consume(DELETE_SIZE);
    this.appendDelete(s.id[slot]!);
    const home = this.bySeq.get(s.persist[slot]!);
    if (home) {
      const size = this.recordSize(slot);
      home.live--;
      home.liveBytes -= size;
      home.releasedAt = this.written;
      this.liveBytes -= size;
    }
    s.persist[slot] = 0;
  }

  private appendDelete(id: number): void {
    const seg = this.place(DELETE_SIZE);
    const at = this.buffer.append(seg, DELETE_SIZE);
    this.buffer.len += encodeDelete(this.buffer.buf, this.buffer.view, at, seg.key, id);
    this.written++;
    seg.lastSeq = this.written;
    this.recordsWritten++;
    this.compactor.bytesSince += DELETE_SIZE;
    this.sync.schedule();
  }

  whenDurable(seq: number, fn: () => void): void {
    if (this.durable >= seq) {
      fn();
      return;
    }
    this.waiters.add(seq, fn);
    this.sync.schedule();
  }

  stats(): JournalStats {
    return {
      oldestIndex: this.files[0]?.seq ?? 0,
      currentIndex: this.current.seq,
      recordsMigrated: this.compactor.recordsMigrated,
      recordsWritten: this.recordsWritten,
      maxSize: this.cfg.fileSize,
    };
  }

  /** Writes and syncs everything, then releases the files and the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (let i = 0; i < 200 && (this.sync.busy || this.space.busy); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.closed = true;
    try {
      this.sync.stop();
      if (this.cfg.mode !== "never") for (const f of this.files) if (f.fd >= 0) fs.fdatasyncSync(f.fd);
    } catch (e) {
      this.cfg.log(`ERROR: could not write the last records at shutdown: ${describe(e)}`);
    }
    for (const f of this.files) if (f.fd >= 0) fs.closeSync(f.fd);
    this.ids?.close();
    this.space.close();
    this.lock.release();
  }

  /** The server went quiet: the record buffers go back (the next record allocates one). */
  releaseIdle(): void {
    this.buffer.releaseIdle();
  }

  // ---- records -------------------------------------------------------------

  private recordSize(slot: number): number {
    return this.records.size(this.source!, slot);
  }

  private reserve(n: number): boolean {
    if (this.failure.failing || this.closed) return false;
    return this.space.reserve(n);
  }

  /** Room the space ledger can still promise. */
  get free(): number {
    return this.space.free();
  }

  private appendJob(slot: number, size: number): void {
    const s = this.store;
    const seg = this.place(size);
    const id = s.id[slot]!;
    if (id >= this.idMark) this.idMark = id + 1;
    if (this.ids?.needs(id)) this.ids.advance(this.buffer, id);
    this.records.encode(this.buffer, this.buffer.append(seg, size), seg, this.source!, slot);
    this.written++;
    seg.lastSeq = this.written;
    const old = s.persist[slot]!;
    if (old !== 0) {
      const home = this.bySeq.get(old);
      if (home) {
        home.live--;
        home.liveBytes -= size;
        home.releasedAt = this.written;
      }
    } else {
      this.liveBytes += size;
    }
    seg.live++;
    seg.liveBytes += size;
    s.persist[slot] = seg.seq;
    this.recordsWritten++;
    this.compactor.bytesSince += size;
    this.sync.schedule();
  }

  /** Compaction's rewrite of a job into the current file; 0 when no room can be reserved. */
  rewrite(slot: number): number {
    const size = this.recordSize(slot);
    if (!this.reserve(size)) return 0;
    this.write(slot);
    return size;
  }

  private compactStep(): void {
    if (this.closed || !this.source) return;
    this.compactor.step();
  }
}
