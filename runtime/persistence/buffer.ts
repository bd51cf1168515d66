/**
 * The record buffer: records are encoded into one reusable byte buffer as
 * the queue reports changes, and described by chunks (a contiguous run of
 * buffer bytes going to one position of one file). `take()` hands the
 * pending records over as a Batch and starts a fresh buffer, so encoding
 * continues while a batch is written and synced; one written buffer of up
 * to 4 MiB is kept for the next batch. A buffer that is replaced (outgrown,
 * or not kept) is freed at once rather than at the next garbage collection,
 * so a log that has just written a few big bodies and gone quiet does not
 * keep their copies (issue 12 item 5); once the server has gone quiet
 * (`releaseIdle`) it keeps no buffer at all, and the next record allocates
 * one. A batch is written with one pwrite per chunk, on the event loop
 * (writeBatchSync: replies wait for it anyway) or off it (writeBatch).
 */
import * as fs from "node:fs";
import { discard } from "../queue/arena.ts";
import { WalError } from "./errors.ts";
import type { Segment } from "./segment.ts";

export interface Chunk {
  seg: Segment;
  /** Offset in the file. */
  pos: number;
  /** Range in the batch's buffer. */
  start: number;
  end: number;
}

export interface Batch {
  buf: Uint8Array;
  chunks: Chunk[];
  /** Sequence number of the last record in the batch. */
  endSeq: number;
}

const INITIAL = 1 << 20;
const KEEP_AT_MOST = 4 << 20;

export class RecordBuffer {
  buf: Uint8Array = new Uint8Array(INITIAL);
  view: DataView = new DataView(this.buf.buffer);
  /** Bytes encoded so far. */
  len = 0;
  private chunks: Chunk[] = [];
  private spare: Uint8Array | null = null;

  get empty(): boolean {
    return this.chunks.length === 0;
  }

  /**
   * Room for n bytes going to `seg` at its write position (which advances).
   * Returns the buffer offset to encode them at; `len` must then grow by n.
   */
  append(seg: Segment, n: number): number {
    if (this.len + n > this.buf.length) this.grow(n);
    const at = this.len;
    const last = this.chunks[this.chunks.length - 1];
    if (last && last.seg === seg && last.end === at && last.pos + (last.end - last.start) === seg.pos) {
      last.end += n;
    } else {
      this.chunks.push({ seg, pos: seg.pos, start: at, end: at + n });
    }
    seg.pos += n;
    return at;
  }

  private grow(n: number): void {
    const b = new Uint8Array(Math.max(INITIAL, this.buf.length * 2, this.len + n + 1024));
    b.set(this.buf.subarray(0, this.len));
    discard(this.buf); // only this buffer's chunks pointed into it; batches in flight have their own
    this.buf = b;
    this.view = new DataView(b.buffer);
  }

  /** The pending records as a batch (null if none); encoding continues in a fresh buffer. */
  take(endSeq: number): Batch | null {
    if (this.chunks.length === 0) return null;
    const b: Batch = { buf: this.buf, chunks: this.chunks, endSeq };
    const next = this.spare && this.spare.length >= INITIAL ? this.spare : new Uint8Array(INITIAL);
    this.spare = null;
    this.buf = next;
    this.view = new DataView(next.buffer);
    this.len = 0;
    this.chunks = [];
    return b;
  }

  /**
   * The server went quiet: gives back the kept buffer, and the current one
   * if no record is pending in it (batches in flight have their own).
   */
  releaseIdle(): void {
    if (this.spare !== null) discard(this.spare);
    this.spare = null;
    if (this.chunks.length > 0 || this.len > 0) return;
    discard(this.buf);
    this.buf = new Uint8Array(0); // not shared: discarding it later must detach nothing else
    this.view = new DataView(this.buf.buffer);
  }

  /** A written batch's buffer may be reused. */
  recycle(b: Batch): void {
    const old = this.spare;
    if (b.buf.length <= KEEP_AT_MOST && (old === null || b.buf.length >= old.length)) {
      this.spare = b.buf;
      if (old !== null) discard(old);
    } else {
      discard(b.buf);
    }
  }
}

/** Writes a batch with one pwrite per chunk, synchronously. */
export function writeBatchSync(b: Batch): void {
  for (const c of b.chunks) {
    if (c.seg.fd < 0) throw new WalError(`log file ${c.seg.path} is not open`);
    for (let off = c.start; off < c.end; ) {
      off += fs.writeSync(c.seg.fd, b.buf, off, c.end - off, c.pos + (off - c.start));
    }
  }
}

/** The same off the event loop: one pwrite per chunk, in order; `done` gets the first error. */
export function writeBatch(b: Batch, done: (err: unknown) => void): void {
  let i = 0;
  let off = b.chunks.length ? b.chunks[0]!.start : 0;
  const step = (): void => {
    for (;;) {
      const c = b.chunks[i];
      if (!c) return done(null);
      if (off < c.end) break;
      i++;
      off = b.chunks[i]?.start ?? 0;
    }
    const c = b.chunks[i]!;
    if (c.seg.fd < 0) return done(new WalError(`log file ${c.seg.path} is not open`));
    fs.write(c.seg.fd, b.buf, off, c.end - off, c.pos + (off - c.start), (err, n) => {
      if (err) return done(err);
      off += n;
      step();
    });
  };
  step();
}

/** The files a batch touches. */
export function filesOf(b: Batch): Set<Segment> {
  const segs = new Set<Segment>();
  for (const c of b.chunks) segs.add(c.seg);
  return segs;
}
