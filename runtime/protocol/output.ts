/**
 * A connection's pending reply bytes. Everything one read produces is
 * appended here and leaves in one socket write. Buffers come from a small
 * pool, so thousands of idle connections hold no output memory.
 */
const POOL_BUF = 16 * 1024;
const pool: Uint8Array[] = [];
const EMPTY = new Uint8Array(0);

export class Output {
  buf: Uint8Array = EMPTY;
  len = 0;

  private ensure(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    if (this.buf === EMPTY && need <= POOL_BUF) {
      this.buf = pool.pop() ?? new Uint8Array(POOL_BUF);
      return;
    }
    let cap = Math.max(POOL_BUF, this.buf.length * 2);
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
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
    if (this.buf.length === POOL_BUF && pool.length < 256) pool.push(this.buf);
    this.buf = EMPTY;
  }
}
