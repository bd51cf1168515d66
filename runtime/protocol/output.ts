/**
 * A connection's pending reply bytes. Everything one read produces is
 * appended here and leaves in one socket write. Buffers come from pools
 * (16 KiB, and powers of two above it for large job bodies), so thousands of
 * idle connections hold no output memory and a connection that keeps
 * receiving 64 KiB bodies does not allocate (and zero) a buffer per reply.
 */
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
  const k = Math.log2(size / POOL_BUF);
  const buf = pools[k]?.pop();
  if (buf) {
    pooledBytes -= size;
    return buf;
  }
  const fresh = new Uint8Array(size);
  fresh.subarray(0, 0); // flush() takes views: let JSC give it its ArrayBuffer once, now
  return fresh;
}

export class Output {
  buf: Uint8Array = EMPTY;
  len = 0;

  private ensure(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let cap = Math.max(POOL_BUF, this.buf.length * 2);
    while (cap < need) cap *= 2;
    const next = take(cap);
    if (this.len > 0) next.set(this.buf.subarray(0, this.len));
    this.release();
    this.buf = next;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
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

  /** A non-negative integer in decimal. */
  num(v: number): void {
    if (v < 10) {
      this.ensure(1);
      this.buf[this.len++] = 0x30 + v;
      return;
    }
    this.ascii(String(v));
  }

  crlf(): void {
    this.ensure(2);
    this.buf[this.len++] = 13;
    this.buf[this.len++] = 10;
  }

  /** Drops the first n bytes (they were written to the socket). */
  consume(n: number): void {
    if (n >= this.len) {
      this.len = 0;
      this.release();
      return;
    }
    this.buf.copyWithin(0, n, this.len);
    this.len -= n;
  }

  private release(): void {
    const size = this.buf.length;
    if (size >= POOL_BUF && size <= POOL_MAX) {
      if (pooledBytes + size <= POOL_BYTES) {
        pools[Math.log2(size / POOL_BUF)]!.push(this.buf);
        pooledBytes += size;
      }
    }
    this.buf = EMPTY;
  }
}
