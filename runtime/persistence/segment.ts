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
  return { seq, path: segmentPath(dir, seq), fd, size, pos: 0, live: 0, releasedAt: 0, lastSeq: 0, headerSeq: 0 };
}

const ZERO_CHUNK = 1 << 20;
let zeros: Uint8Array | null = null;
function zeroBuf(): Uint8Array {
  zeros ??= new Uint8Array(ZERO_CHUNK);
  return zeros;
}

/** Creates the file and fills it with zeros, synchronously. Returns its descriptor. */
export function preallocateSync(path: string, size: number): number {
  const fd = fs.openSync(path, "wx+", 0o644);
  try {
    const z = zeroBuf();
    for (let off = 0; off < size; ) {
      const n = fs.writeSync(fd, z, 0, Math.min(z.length, size - off), off);
      off += n;
    }
    fs.fdatasyncSync(fd);
    return fd;
  } catch (e) {
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
export function preallocate(path: string, size: number, done: (err: Error | null, fd: number) => void): void {
  fs.open(path, "wx+", 0o644, (err, fd) => {
    if (err) return done(err, -1);
    const z = zeroBuf();
    const fail = (e: Error): void => {
      fs.close(fd, () => fs.unlink(path, () => done(e, -1)));
    };
    const step = (off: number): void => {
      if (off >= size) {
        fs.fdatasync(fd, (e) => (e ? fail(e) : done(null, fd)));
        return;
      }
      fs.write(fd, z, 0, Math.min(z.length, size - off), off, (e, n) => (e ? fail(e) : step(off + n)));
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
