/**
 * Log files ("segments"): wal.<seq> in the log directory, preallocated with
 * zeros to their full size before they are used, so that records written
 * into them later cannot fail for lack of space (the disk-full guarantee
 * rests on this: an ftruncate'd sparse file would reserve nothing).
 */
import * as fs from "node:fs";
import { join } from "node:path";

export interface Segment {
  readonly seq: number;
  readonly path: string;
  /** Open descriptor, or -1. */
  fd: number;
  /** Bytes in the file. */
  size: number;
  /** Next write position (for the current file). */
  pos: number;
  /** Live jobs whose latest record is in this file. */
  live: number;
  /** Sequence number of the record that last moved a job out of this file (its delete or rewrite). */
  releasedAt: number;
  /** Sequence number of the last record placed in this file. */
  lastSeq: number;
  /** Sequence number of this file's header record (when it became current). */
  headerSeq: number;
  /** Bytes of the latest records of the live jobs counted in `live`. */
  liveBytes: number;
  /** Format version and record key of the file's records. */
  version: number;
  key: number;
  /** Recovery found damage in it: it is moved aside (wal.N.damaged) instead of removed. */
  damaged: boolean;
  /** Its valid records were rewritten into newer files: it can be moved aside once they are durable. */
  evacuated: boolean;
  /** Not preallocated (no space was left): it grows as records are written, and gives way to the first spare. */
  growable: boolean;
}

export const FILE_PREFIX = "wal.";

export function segmentPath(dir: string, seq: number): string {
  return join(dir, `${FILE_PREFIX}${seq}`);
}

/** The sequence number of a log file name, or -1 for any other name. */
export function parseSegmentName(name: string): number {
  if (!name.startsWith(FILE_PREFIX)) return -1;
  const rest = name.slice(FILE_PREFIX.length);
  if (!/^[1-9]\d{0,9}$/.test(rest)) return -1;
  return Number(rest);
}

export function newSegment(dir: string, seq: number, fd: number, size: number): Segment {
  return {
    seq,
    path: segmentPath(dir, seq),
    fd,
    size,
    pos: 0,
    live: 0,
    releasedAt: 0,
    lastSeq: 0,
    headerSeq: 0,
    liveBytes: 0,
    version: 0,
    key: 0,
    damaged: false,
    evacuated: false,
    growable: false,
  };
}

const ZERO_CHUNK = 1 << 20;
let zeros: Uint8Array | null = null;
function zeroBuf(): Uint8Array {
  zeros ??= new Uint8Array(ZERO_CHUNK);
  return zeros;
}

/**
 * Creates the file and fills it with zeros, synchronously. If the disk fills
 * up after `least` bytes, the file is kept at the size reached (rounded down
 * to 4 KiB): a smaller spare still holds records. Returns its descriptor and size.
 */
export function preallocateSync(path: string, size: number, least = size): { fd: number; size: number } {
  const fd = fs.openSync(path, "wx+", 0o644);
  let off = 0;
  try {
    const z = zeroBuf();
    while (off < size) off += fs.writeSync(fd, z, 0, Math.min(z.length, size - off), off);
    fs.fdatasyncSync(fd);
    return { fd, size };
  } catch (e) {
    const kept = Math.floor(off / 4096) * 4096;
    if ((e as { code?: string }).code === "ENOSPC" && kept >= least) {
      try {
        fs.ftruncateSync(fd, kept);
        fs.fdatasyncSync(fd);
        return { fd, size: kept };
      } catch {
        // Fall through: give the file up.
      }
    }
    try {
      fs.closeSync(fd);
      fs.unlinkSync(path);
    } catch {
      // Best effort.
    }
    throw e;
  }
}

/** The same, without blocking the event loop. */
export function preallocate(path: string, size: number, least: number, done: (err: Error | null, fd: number, size: number) => void): void {
  fs.open(path, "wx+", 0o644, (err, fd) => {
    if (err) return done(err, -1, 0);
    const z = zeroBuf();
    const fail = (e: Error): void => {
      fs.close(fd, () => fs.unlink(path, () => done(e, -1, 0)));
    };
    const finish = (n: number): void => fs.fdatasync(fd, (e) => (e ? fail(e) : done(null, fd, n)));
    const step = (off: number): void => {
      if (off >= size) return finish(size);
      fs.write(fd, z, 0, Math.min(z.length, size - off), off, (e, n) => {
        if (!e) return step(off + n);
        const kept = Math.floor(off / 4096) * 4096;
        if ((e as { code?: string }).code !== "ENOSPC" || kept < least) return fail(e);
        fs.ftruncate(fd, kept, (e2) => (e2 ? fail(e) : finish(kept)));
      });
    };
    step(0);
  });
}

export function syncDir(dir: string): void {
  let fd = -1;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Some file systems cannot fsync a directory; nothing more to do.
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/** The same off the event loop; `done` runs whatever happens (errors are ignored as above). */
export function syncDirAsync(dir: string, done: () => void = () => {}): void {
  fs.open(dir, "r", (err, fd) => {
    if (err) return done();
    fs.fsync(fd, () => fs.close(fd, () => done()));
  });
}
