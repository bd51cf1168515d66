/**
 * Compaction: disk use follows live data, not total traffic.
 *
 * Each file counts the live jobs whose newest record it holds. The oldest
 * files are removed (and the directory fsynced) once they hold no live job
 * and every record that moved jobs out of them, plus the current file's
 * header, is on disk. Only the oldest file is ever removed, so a delete can
 * never be outlived by the put it cancels. When the files take more than
 * twice the live records plus two files, live jobs of the oldest file are
 * rewritten into the current file, a bounded number of bytes per step; and
 * when puts were refused for lack of space, the oldest file's live jobs are
 * rewritten as soon as the free room holds them all, so that removing it
 * gives its bytes back and puts can resume.
 *
 * A file recovery found damaged is never removed: once its valid records
 * were rewritten (and are on disk) it is moved aside as wal.N.damaged, its
 * bytes intact, for the operator.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { JobState, type JobStore } from "../queue/jobs.ts";
import { codeOf, describe } from "./errors.ts";
import { type Segment, syncDirAsync } from "./segment.ts";
import type { SyncPolicy } from "./sync.ts";

/** Store slots examined per step. */
const SCAN_STEP = 65536;

/** What compaction reads and does through the log. */
export interface CompactionHost {
  /** Files with data, oldest first; the last one is current. */
  readonly files: Segment[];
  readonly bySeq: Map<number, Segment>;
  readonly sync: SyncPolicy;
  /** Bytes of the latest records of live jobs. */
  readonly liveBytes: number;
  /** Writes or syncs are failing: no rewriting. */
  readonly failing: boolean;
  /** A reservation was refused for lack of space. */
  readonly spaceShort: boolean;
  /** Room the space ledger can still promise. */
  readonly free: number;
  readonly store: JobStore;
  /** Writes the job's state again into the current file; its size in bytes, or 0 if no room could be reserved. */
  rewrite(slot: number): number;
}

export interface CompactionConfig {
  dir: string;
  fileSize: number;
  /** -c (rewrite live jobs forward) or -n (only remove empty files). */
  rewrite: boolean;
  log: (msg: string) => void;
}

export class Compactor {
  recordsMigrated = 0;
  /** Bytes written since the last step: the next step may rewrite as much. */
  bytesSince = 0;
  private scanSlot = 0;
  private scanSeq = 0;

  constructor(
    private readonly cfg: CompactionConfig,
    private readonly host: CompactionHost,
  ) {}

  /** Closes finished files, removes leading files nothing needs, rewrites live jobs out of the oldest when the log is mostly garbage. */
  step(): void {
    const h = this.host;
    const files = h.files;
    const synced = h.sync.synced;
    const cur = files[files.length - 1]!;
    // Close files that will not be written or synced again.
    for (let i = 0; i < files.length - 1; i++) {
      const f = files[i]!;
      if (f.fd >= 0 && synced >= f.lastSeq && h.sync.written >= f.lastSeq) {
        fs.close(f.fd, () => {});
        f.fd = -1;
        h.sync.forget(f);
      }
    }
    let removed = false;
    while (files.length > 1) {
      const f = files[0]!;
      if (f.live > 0 || f.fd >= 0) break;
      if (synced < f.releasedAt || synced < f.lastSeq || synced < cur.headerSeq) break;
      files.shift();
      h.bySeq.delete(f.seq);
      removed = f.damaged ? this.moveAside(f) : this.remove(f);
    }
    // Damaged files whose records were all rewritten go wherever they are in the order.
    for (let i = 0; i < files.length - 1; i++) {
      const f = files[i]!;
      if (!f.evacuated || f.live > 0 || f.fd >= 0 || synced < f.releasedAt || synced < cur.headerSeq) continue;
      files.splice(i--, 1);
      h.bySeq.delete(f.seq);
      removed = this.moveAside(f) || removed;
    }
    // Only tidiness depends on it (a removed file that came back holds nothing live): off the event loop.
    if (removed) syncDirAsync(this.cfg.dir);
    if (!this.cfg.rewrite || files.length < 2 || h.failing) return;
    const oldest = files[0]!;
    if (oldest.live === 0) return;
    if (h.spaceShort && oldest.liveBytes <= h.free) {
      this.migrate(oldest, oldest.liveBytes);
      return;
    }
    if (files.length < 3) return;
    const onDisk = files.length * this.cfg.fileSize;
    if (onDisk <= 2 * h.liveBytes + 2 * this.cfg.fileSize) return;
    this.migrate(oldest, Math.max(64 << 10, this.bytesSince));
    this.bytesSince = 0;
  }

  private remove(f: Segment): boolean {
    try {
      fs.unlinkSync(f.path);
      return true;
    } catch (e) {
      if (codeOf(e) !== "ENOENT") this.cfg.log(`WARNING: cannot remove the old log file ${f.path}: ${describe(e)}`);
      return false;
    }
  }

  /** Renames a damaged file to wal.N.damaged (wal.N.damaged.2, ... if taken). */
  private moveAside(f: Segment): boolean {
    let dest = `${f.path}.damaged`;
    for (let i = 2; fs.existsSync(dest); i++) dest = `${f.path}.damaged.${i}`;
    try {
      fs.renameSync(f.path, dest);
      this.cfg.log(`moved ${f.path} aside as ${path.basename(dest)}, its bytes intact: its valid records were rewritten into newer files`);
      return true;
    } catch (e) {
      this.cfg.log(`WARNING: cannot move the damaged log file ${f.path} aside: ${describe(e)}`);
      return false;
    }
  }

  /** Rewrites up to `budget` bytes of live jobs whose latest record is in `from` into the current file. */
  private migrate(from: Segment, budget: number): void {
    const s = this.host.store;
    if (this.scanSeq !== from.seq) {
      this.scanSeq = from.seq;
      this.scanSlot = 0;
    }
    const end = Math.min(s.capacity, this.scanSlot + SCAN_STEP);
    let moved = 0;
    let i = this.scanSlot;
    for (; i < end && moved < budget && from.live > 0; i++) {
      if (s.persist[i] !== from.seq || s.state[i] === JobState.Invalid) continue;
      const size = this.host.rewrite(i);
      if (size === 0) break;
      this.recordsMigrated++;
      moved += size;
    }
    this.scanSlot = i >= s.capacity ? 0 : i;
  }
}
