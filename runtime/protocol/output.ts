/**
 * A connection's pending reply bytes. Everything one read produces is
 * appended here and leaves in one socket write. Buffers come from pools
 * (16 KiB, and powers of two above it for large job bodies), so thousands of
 * idle connections hold no output memory and a connection that keeps
 * receiving 64 KiB bodies does not allocate (and zero) a buffer per reply.
 *
 * Unsent bytes are buf[head, len): a partial socket write only moves `head`,
 * so the rest of a large reply is not copied again for every write.
 *
 * A reply carrying a large job body can instead be a borrowed segment,
 * seg[segStart, segEnd): header and body as they lie in the job's buffer
 * (which keeps free room before the body), written from there without a
 * copy. It is only ever the whole output: any further append first copies
 * it in (`materialize`). seg[lendAt] marks the buffer as lent while the
 * borrow lasts, so no other reply writes its header there and the arena
 * does not reuse the buffer if the job is freed meanwhile.
 */
import { discard } from "../queue/arena.ts";
import { copyBytes } from "./bytes.ts";

const POOL_BUF = 16 * 1024;
/** Buffers above this are not pooled. */
const POOL_MAX = 1 << 21;
/** Idle pooled bytes kept, all sizes together. */
const POOL_BYTES = 8 << 20;
let pooledBytes = 0;
/** pools[k]: idle buffers of POOL_BUF << k bytes. */
const pools: Uint8Array[][] = [];
for (let size = POOL_BUF; size <= POOL_MAX; size *= 2) pools.push([]);
const EMPTY = new Uint8Array(0);

function take(size: number): Uint8Array {
  const pool = pools[size === POOL_BUF ? 0 : Math.log2(size / POOL_BUF)];
  if (pool !== undefined && pool.length > 0) {
    pooledBytes -= size;
    return pool.pop()!;
  }
  const fresh = new Uint8Array(size);
  fresh.subarray(0, 0); // views are taken of it: let JSC give it its ArrayBuffer once, now
  return fresh;
}

/**
 * Gives back the idle pooled buffers: called once the server has gone quiet
 * (server/idle.ts). Only released buffers are pooled, and no reply refers to
 * one (a partial write leaves the rest in its Output, not in the socket).
 */
export function releaseIdleOutput(): void {
  for (const pool of pools) {
    for (const buf of pool) discard(buf);
    pool.length = 0;
  }
  pooledBytes = 0;
}

function digits(v: number): number {
  let n = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) n++;
  return n;
}

/** Writes v's decimal digits so that they end just before `end`; returns where they start. */
function writeDigitsBefore(buf: Uint8Array, end: number, v: number): number {
  let p = end;
  do {
    const q = Math.floor(v / 10);
    buf[--p] = 48 + (v - q * 10);
    v = q;
  } while (v > 0);
  return p;
}

export class Output {
  buf: Uint8Array = EMPTY;
  /** First byte not yet written to the socket. */
  head = 0;
  /** End of the pending bytes. */
  len = 0;
  /** A borrowed segment (see above), or null. */
  seg: Uint8Array | null = null;
  segStart = 0;
  segEnd = 0;
  private lendAt = 0;

  /** Bytes waiting to be written. */
  get pending(): number {
    return this.len - this.head + (this.seg === null ? 0 : this.segEnd - this.segStart);
  }

  /**
   * Borrows `<prefix><id> <size - 2>\r\n` + src[at, at + size) as the whole
   * output, writing the header into src just before `at`. Returns false (and
   * does nothing) unless the output is empty and the header fits in `room`
   * bytes before `at`, and src[lendAt] (outside the header) is not set by
   * another borrow.
   */
  borrowJob(prefix: string, id: number, src: Uint8Array, at: number, size: number, room: number, lendAt: number): boolean {
    if (this.len !== this.head || this.seg !== null || src[lendAt] !== 0) return false;
    const bytes = size - 2;
    const headerLen = prefix.length + digits(id) + 1 + digits(bytes) + 2;
    if (headerLen > room) return false;
    let p = at;
    src[--p] = 10;
    src[--p] = 13;
    p = writeDigitsBefore(src, p, bytes);
    src[--p] = 32;
    p = writeDigitsBefore(src, p, id);
    for (let i = prefix.length - 1; i >= 0; i--) src[--p] = prefix.charCodeAt(i);
    src[lendAt] = 1;
    this.seg = src;
    this.segStart = p;
    this.segEnd = at + size;
    this.lendAt = lendAt;
    return true;
  }

  /** Ends a borrow without writing it (the connection is gone). */
  dropSegment(): void {
    if (this.seg === null) return;
    this.seg[this.lendAt] = 0;
    this.seg = null;
  }

  /** Copies the borrowed segment's unwritten bytes in, ending the borrow. */
  materialize(): void {
    const seg = this.seg;
    if (seg === null) return;
    this.seg = null;
    this.copy(seg, this.segStart, this.segEnd);
    seg[this.lendAt] = 0;
  }

  /** n bytes of the borrowed segment were written (the rest stays borrowed until written or appended to). */
  consumeSegment(n: number): void {
    this.segStart += n;
    if (this.segStart < this.segEnd) return;
    this.seg![this.lendAt] = 0;
    this.seg = null;
  }

  private ensure(n: number): void {
    if (this.seg !== null) this.materialize();
    const need = this.len + n;
    if (need <= this.buf.length) return;
    const keep = this.len - this.head;
    if (keep + n <= this.buf.length) {
      // Room enough once the written bytes are dropped.
      this.buf.copyWithin(0, this.head, this.len);
      this.head = 0;
      this.len = keep;
      return;
    }
    let cap = Math.max(POOL_BUF, this.buf.length * 2);
    while (cap < keep + n) cap *= 2;
    const next = take(cap);
    if (keep > 0) next.set(this.buf.subarray(this.head, this.len));
    this.release();
    this.buf = next;
    this.head = 0;
    this.len = keep;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** src[from, to), copied without making a view of src. */
  copy(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    this.ensure(n);
    copyBytes(src, from, to, this.buf, this.len);
    this.len += n;
  }

  /** ASCII text (replies and YAML are ASCII; tube names are too). */
  ascii(s: string): void {
    const n = s.length;
    this.ensure(n);
    const buf = this.buf;
    let p = this.len;
    for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
    this.len = p;
  }

  /** A non-negative integer (below 2^53) in decimal. */
  num(v: number): void {
    const n = digits(v);
    this.ensure(n);
    this.len = writeDigitsBefore(this.buf, this.len + n, v) + n;
  }

  crlf(): void {
    this.ensure(2);
    this.buf[this.len++] = 13;
    this.buf[this.len++] = 10;
  }

  /** Drops the first n pending bytes (they were written to the socket). */
  consume(n: number): void {
    this.head += n;
    if (this.head >= this.len) {
      this.head = 0;
      this.len = 0;
      this.release();
    }
  }

  private release(): void {
    const size = this.buf.length;
    if (size >= POOL_BUF && size <= POOL_MAX && pooledBytes + size <= POOL_BYTES) {
      pools[size === POOL_BUF ? 0 : Math.log2(size / POOL_BUF)]!.push(this.buf);
      pooledBytes += size;
    }
    this.buf = EMPTY;
  }
}
