/**
 * `-b DIR`: opens the write-ahead log of a server. See wal.ts for how it
 * writes, recover.ts for how it reads, FORMAT.md for the bytes. Opening
 * reads the log back; the server's wiring (runtime/server/restore.ts) puts
 * the recovered jobs into its queue.
 */
import * as fs from "node:fs";
import { dirname, resolve } from "node:path";
import { codeOf, describe, WalError } from "./errors.ts";
import { jobRecordSize } from "./format.ts";
import { lockDir } from "./lock.ts";
import { type Recovery, recover } from "./recover.ts";
import { MAX_TUBE_NAME, type SyncMode, Wal } from "./wal.ts";

export { WalError } from "./errors.ts";
export { ST_BURIED, ST_DELAYED, ST_READY } from "./format.ts";
export type { RecoveredJob, Recovery } from "./recover.ts";
export { type JobSource, Wal } from "./wal.ts";

export const DEFAULT_FILE_SIZE = 10485760;
/** beanstalkd's default for -f. */
export const DEFAULT_FSYNC_MS = 50;

export interface WalOptions {
  walDir: string;
  fsyncMs?: number;
  noFsync?: boolean;
  walFileSize?: number;
  compact?: boolean;
  maxJobSize?: number;
  log?: (msg: string) => void;
}

function checkDir(dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    if (codeOf(e) !== "ENOENT") throw new WalError(`-b ${dir}: ${describe(e)}`);
    const parent = dirname(resolve(dir));
    if (!fs.existsSync(parent)) {
      throw new WalError(`-b ${dir}: the directory does not exist, nor does its parent ${parent}; create it (mkdir -p ${dir})`);
    }
    try {
      fs.mkdirSync(dir, { mode: 0o750 });
    } catch (e2) {
      throw new WalError(`-b ${dir}: the directory does not exist and cannot be created: ${describe(e2)}`);
    }
    return;
  }
  if (!st.isDirectory()) throw new WalError(`-b ${dir}: not a directory`);
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    if (codeOf(e) === "EROFS")
      throw new WalError(`-b ${dir}: the directory is on a read-only file system; mount it read-write or choose another`);
    throw new WalError(`-b ${dir}: the directory is not writable by this user; fix its permissions or choose another`);
  }
}

export interface OpenedWal {
  wal: Wal;
  /** What the log held: the wiring restores these jobs into the queue. */
  recovery: Recovery;
}

/** Locks the directory, reads the log back and opens the file records go into next (no new file is needed to start). */
export function openWal(opts: WalOptions): OpenedWal {
  const dir = opts.walDir;
  const log = opts.log ?? ((m: string) => console.error(`beanrun: ${m}`));
  checkDir(dir);
  const maxRecord = jobRecordSize(MAX_TUBE_NAME, opts.maxJobSize ?? 65535);
  let fileSize = Math.ceil((opts.walFileSize ?? DEFAULT_FILE_SIZE) / 4096) * 4096;
  const least = Math.ceil((4 * maxRecord + 64) / 4096) * 4096;
  if (fileSize < least) {
    log(`-s ${opts.walFileSize}: too small for jobs of ${opts.maxJobSize ?? 65535} bytes; log files will be ${least} bytes`);
    fileSize = least;
  }
  const mode: SyncMode = opts.noFsync ? "never" : (opts.fsyncMs ?? DEFAULT_FSYNC_MS) === 0 ? "always" : "interval";
  let lock;
  try {
    lock = lockDir(dir);
  } catch (e) {
    if (e instanceof WalError) throw e;
    throw new WalError(`-b ${dir}: ${describe(e)}`);
  }
  try {
    const recovery = recover(dir);
    const wal = new Wal(
      { dir, mode, fsyncMs: opts.fsyncMs ?? DEFAULT_FSYNC_MS, fileSize, compact: opts.compact ?? true, maxRecord, log },
      lock,
      recovery,
    );
    return { wal, recovery };
  } catch (e) {
    lock.release();
    if (e instanceof WalError) throw e;
    throw new WalError(`-b ${dir}: ${describe(e)}`);
  }
}
