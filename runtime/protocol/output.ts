/**
 * A connection's pending reply bytes. Everything one read produces is
 * appended here and leaves in one socket write. Buffers come from pools
 * (16 KiB, and powers of two above it for large job bodies), so thousands of
 * idle connections hold no output memory and a connection that keeps
 * receiving 64 KiB bodies does not allocate (and zero) a buffer per reply.
 *
 * Unsent bytes are buf[head, len): a partial socket write only moves `head`,
 * so the rest of a large reply is not copied again for every write.
 */
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

export class Output {
  buf: Uint8Array = EMPTY;
  /** First byte not yet written to the socket. */
  head = 0;
  /** End of the pending bytes. */
  len = 0;

  /** Bytes waiting to be written. */
  get pending(): number {
    return this.len - this.head;
  }

  private ensure(n: number): void {
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
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    this.ensure(digits);
    const buf = this.buf;
    let p = this.len + digits;
    this.len = p;
    do {
      const q = Math.floor(v / 10);
      buf[--p] = 48 + (v - q * 10);
      v = q;
    } while (v > 0);
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
