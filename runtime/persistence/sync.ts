/**
 * When records reach the disk: one SyncPolicy per mode of the -f/-F flags.
 *
 * - GroupCommit (-f 0): the pending records are written, then fdatasync'd,
 *   both off the event loop (so neither timers nor reads wait for the disk); `durable` advances when the sync completes and held
 *   replies are released. The records that arrive meanwhile form the next
 *   batch, started as soon as the sync ends: many connections' records share
 *   one fsync.
 * - IntervalSync (-f MS): replies leave once their records are written to
 *   the kernel (they survive a crash of the process); a timer fsyncs within
 *   MS ms of the first unsynced write, whether or not more writes come.
 * - NoSync (-F): written to the kernel, never fsynced.
 *
 * A failed write or fsync is reported to the host (which refuses new jobs)
 * and retried every RETRY_MS until it works; the records stay pending.
 */
import * as fs from "node:fs";
import { type Batch, filesOf, writeBatch, writeBatchSync } from "./buffer.ts";
import { describe } from "./errors.ts";
import type { Segment } from "./segment.ts";

export type SyncMode = "always" | "interval" | "never";

export const RETRY_MS = 1000;

/** What a policy needs from the log. */
export interface SyncHost {
  /** The pending records as a batch, or null. */
  take(): Batch | null;
  recycle(b: Batch): void;
  /** `durable` advanced: release the replies waiting for it. */
  onDurable(): void;
  /** More records are on disk: compaction may go on. */
  onSynced(): void;
  setFailing(msg: string): void;
  clearFailing(): void;
}

export interface SyncPolicy {
  /** Records handed to the kernel. */
  readonly written: number;
  /** Records on disk (for -F: handed to the kernel). */
  readonly synced: number;
  /** What a reply waits for: `synced` with -f 0, `written` otherwise. */
  readonly durable: number;
  /** A write or sync is under way. */
  readonly busy: boolean;
  /** Records were added: arrange for them to be written. */
  schedule(): void;
  /** The file was closed: it needs no more syncs. */
  forget(seg: Segment): void;
  /** Shutdown: no more timers; writes and syncs what is pending, synchronously. */
  stop(): void;
}

/** After the I/O callbacks of this turn of the event loop. */
const later: (fn: () => void) => void =
  typeof globalThis.setImmediate === "function" ? (fn) => void globalThis.setImmediate(fn) : (fn) => void setTimeout(fn, 0);

/** fdatasyncs the files off the event loop; `done` gets the first error, if any. */
function syncFiles(segs: Iterable<Segment>, done: (err: unknown) => void): void {
  const list = [...segs];
  let left = list.length;
  let error: unknown = null;
  if (left === 0) return done(null);
  for (const seg of list) {
    fs.fdatasync(seg.fd, (e) => {
      if (e) error = e;
      if (--left === 0) done(error);
    });
  }
}

abstract class BasePolicy implements SyncPolicy {
  written = 0;
  synced = 0;
  protected queued = false;
  protected retryTimer: ReturnType<typeof setTimeout> | null = null;
  protected stopped = false;

  constructor(protected readonly host: SyncHost) {}

  abstract readonly durable: number;
  abstract readonly busy: boolean;
  abstract schedule(): void;

  forget(_seg: Segment): void {}

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const b = this.host.take();
    if (b) writeBatchSync(b);
  }
}

/** -f 0. */
export class GroupCommit extends BasePolicy {
  private inflight: Batch | null = null;
  private readonly flush = (): void => {
    this.queued = false;
    this.start();
  };

  get durable(): number {
    return this.synced;
  }

  get busy(): boolean {
    return this.inflight !== null;
  }

  schedule(): void {
    if (this.queued) return;
    this.queued = true;
    queueMicrotask(this.flush);
  }

  private start(): void {
    if (this.inflight || this.retryTimer || this.stopped) return;
    const b = this.host.take();
    if (!b) return;
    this.inflight = b;
    this.run(b);
  }

  /** Write and fdatasync, both off the event loop: timers and reads never wait for the disk. */
  private run(b: Batch): void {
    writeBatch(b, (werr) => {
      if (werr) return this.failed(b, "write", werr);
      if (b.endSeq > this.written) this.written = b.endSeq;
      syncFiles(filesOf(b), (err) => (err ? this.failed(b, "fsync", err) : this.done(b)));
    });
  }

  private failed(b: Batch, what: string, e: unknown): void {
    this.host.setFailing(`${what} of the log failed: ${describe(e)}`);
    if (this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.run(b);
    }, RETRY_MS);
  }

  private done(b: Batch): void {
    this.inflight = null;
    if (b.endSeq > this.synced) this.synced = b.endSeq;
    this.host.recycle(b);
    this.host.clearFailing();
    this.host.onDurable();
    this.host.onSynced();
    this.start();
  }
}

/** -f MS and -F: records reach the kernel once per turn of the event loop. */
abstract class WriteEachTurn extends BasePolicy {
  private readonly flush = (): void => {
    this.queued = false;
    if (this.retryTimer || this.stopped) return;
    const b = this.host.take();
    if (b) this.write(b);
  };

  get durable(): number {
    return this.written;
  }

  schedule(): void {
    if (this.queued) return;
    this.queued = true;
    later(this.flush);
  }

  private write(b: Batch): void {
    try {
      writeBatchSync(b);
    } catch (e) {
      this.host.setFailing(`write of the log failed: ${describe(e)}`);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.write(b);
        this.flush();
      }, RETRY_MS);
      return;
    }
    if (b.endSeq > this.written) this.written = b.endSeq;
    this.host.recycle(b);
    this.afterWrite(b);
    this.host.onDurable();
  }

  protected abstract afterWrite(b: Batch): void;
}

/** -f MS. */
export class IntervalSync extends WriteEachTurn {
  private syncTimer: ReturnType<typeof setTimeout> | null = null;
  private syncing = false;
  private lastSync = 0;
  private readonly dirty = new Set<Segment>();

  constructor(
    host: SyncHost,
    private readonly ms: number,
  ) {
    super(host);
  }

  get busy(): boolean {
    return this.syncing;
  }

  override forget(seg: Segment): void {
    this.dirty.delete(seg);
  }

  protected afterWrite(b: Batch): void {
    for (const c of b.chunks) this.dirty.add(c.seg);
    this.scheduleSync();
  }

  private scheduleSync(): void {
    if (this.syncTimer || this.syncing || this.stopped || this.synced >= this.written) return;
    const wait = Math.max(0, this.lastSync + this.ms - performance.now());
    this.syncTimer = setTimeout(() => {
      this.syncTimer = null;
      this.runSync();
    }, wait);
  }

  private runSync(): void {
    if (this.stopped) return;
    this.syncing = true;
    const target = this.written;
    const segs = [...this.dirty];
    this.dirty.clear();
    syncFiles(segs, (error) => {
      this.syncing = false;
      this.lastSync = performance.now();
      if (error) {
        for (const s of segs) this.dirty.add(s);
        this.host.setFailing(`fsync of the log failed: ${describe(error)}`);
        this.syncTimer = setTimeout(() => {
          this.syncTimer = null;
          this.runSync();
        }, RETRY_MS);
        return;
      }
      if (target > this.synced) this.synced = target;
      this.host.clearFailing();
      this.host.onSynced();
      this.scheduleSync();
    });
  }

  override stop(): void {
    if (this.syncTimer) clearTimeout(this.syncTimer);
    super.stop();
  }
}

/** -F. */
export class NoSync extends WriteEachTurn {
  get busy(): boolean {
    return false;
  }

  protected afterWrite(): void {
    this.synced = this.written;
    this.host.clearFailing();
    this.host.onSynced();
  }
}

/** Whether writes or syncs are failing (then puts are refused), logged once when it starts and when it ends. */
export class FailureState {
  message: string | null = null;

  constructor(private readonly log: (msg: string) => void) {}

  get failing(): boolean {
    return this.message !== null;
  }

  set(msg: string): void {
    if (this.message === null) {
      this.log(
        `ERROR: ${msg}. Jobs are NOT safe until this is fixed: new jobs are refused (OUT_OF_MEMORY), ` +
          `replies that need the log are held, and the write is retried every ${RETRY_MS / 1000} s`,
      );
    }
    this.message = msg;
  }

  clear(): void {
    if (this.message === null) return;
    this.log(`the log works again (after: ${this.message}); new jobs are accepted`);
    this.message = null;
  }
}

export function syncPolicy(mode: SyncMode, ms: number, host: SyncHost): SyncPolicy {
  if (mode === "always") return new GroupCommit(host);
  if (mode === "interval") return new IntervalSync(host, ms);
  return new NoSync(host);
}
