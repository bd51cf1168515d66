/**
 * Job bodies, stored compactly and without per-job allocations in steady state.
 *
 * A JavaScript object plus its own buffer per job costs several hundred bytes
 * of overhead; a million queued jobs would then take almost three times the
 * memory beanstalkd needs. Small bodies (up to SMALL_MAX bytes) therefore
 * live in fixed-size cells of 256 KiB slabs, one slab family per size class,
 * and a body is named by a single integer handle.
 *
 * Bodies above SMALL_MAX get a buffer of their own, where the object overhead
 * no longer matters; but allocating one per put (zero-filled, then collected)
 * costs more than the rest of a put, so freed buffers up to LARGE_POOL_CELL
 * are kept for reuse. Their sizes are rounded up to classes 1/8 of a power of
 * two apart (at most 12.5% slack), so a freed buffer fits later bodies of
 * similar size, and the bytes kept idle are bounded by LARGE_POOL_BYTES.
 *
 * A small class whose last body is freed gives its slabs back, but up to
 * SPARE_SLABS of them are kept for whichever class next needs one: otherwise
 * a queue that keeps emptying (one producer, one worker) would allocate and
 * zero a fresh 256 KiB slab for every job.
 *
 * Memory not kept for reuse is given back at once (`discard`), not when the
 * garbage collector next runs: a server that has just deleted a few hundred
 * big bodies and then goes quiet allocates nothing more, so no collection
 * would come, and the process would keep that memory indefinitely.
 *
 * A large buffer keeps LARGE_HEADROOM free bytes before its body, so a reply
 * header (`RESERVED <id> <bytes>\r\n`) can be written there and header and
 * body leave in one socket write straight from the buffer, not copied into
 * the connection's output first. Byte 0 of the headroom marks a buffer lent
 * out that way (see Output.borrowJob): only one reply borrows it at a time,
 * and a lent buffer whose job is freed is not pooled, so its bytes stay as
 * they were until the write is done.
 *
 * Handles: for a small body, `cls * CLASS_STRIDE + cell`; for a large body,
 * `-(index + 1)` into `large`.
 */
export const SMALL_MAX = 4096;
const SLAB_BYTES = 1 << 18;
const CLASS_STRIDE = 2 ** 32;
const SPARE_SLABS = 4;
/** Larger buffers are allocated at their exact size and never pooled. */
export const LARGE_POOL_CELL = 1 << 20;
/** Free bytes before a large body (a reply header is at most 9 + 16 + 1 + 10 + 2 bytes). */
export const LARGE_HEADROOM = 64;
/** Upper bound on the bytes of idle pooled large buffers. */
const LARGE_POOL_BYTES = 4 << 20;

/** Slabs no class uses at the moment, all SLAB_BYTES long. */
const spareSlabs: Uint8Array[] = [];

/**
 * Frees `buf`'s memory now rather than at the next garbage collection, which
 * an idle server may not run for a long time: ES2024's
 * ArrayBuffer.prototype.transfer(0) detaches its ArrayBuffer (every view of
 * it then has length 0), so nothing may still use it. Only for arrays that
 * span their whole ArrayBuffer. Runtimes without `transfer` leave it to the
 * collector.
 */
export function discard(buf: Uint8Array): void {
  (buf.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer }).transfer?.(0);
}

function newSlab(): Uint8Array {
  const spare = spareSlabs.pop();
  if (spare) return spare;
  const slab = new Uint8Array(SLAB_BYTES);
  // Views of a slab are taken: make JSC give it its ArrayBuffer once, now.
  slab.subarray(0, 0);
  return slab;
}

export function cellSizeFor(n: number): number {
  if (n <= 256) return Math.max(16, (n + 15) & ~15);
  if (n <= 1024) return (n + 63) & ~63;
  if (n <= SMALL_MAX) return (n + 255) & ~255;
  return largeCellFor(n);
}

/** Size of the buffer for a body of n > SMALL_MAX bytes: n rounded up to 1/8 of a power of two. */
export function largeCellFor(n: number): number {
  if (n > LARGE_POOL_CELL) return n;
  const step = 2 ** (Math.floor(Math.log2(n - 1)) - 3);
  return Math.ceil(n / step) * step;
}

class SizeClass {
  readonly cellsPerSlab: number;
  readonly slabs: Uint8Array[] = [];
  private free: number[] = [];
  private used = 0; // cells ever handed out (the bump pointer)

  constructor(readonly cellSize: number) {
    this.cellsPerSlab = Math.max(1, Math.floor(SLAB_BYTES / cellSize));
  }

  alloc(): number {
    if (this.free.length) return this.free.pop()!;
    const cell = this.used++;
    if (cell >= this.slabs.length * this.cellsPerSlab) this.slabs.push(newSlab());
    return cell;
  }

  release(cell: number): void {
    this.free.push(cell);
    if (this.free.length === this.used) {
      // Everything in this class is free: give the slabs back, keeping a few spare.
      this.free.length = 0;
      this.used = 0;
      for (const slab of this.slabs) {
        if (spareSlabs.length < SPARE_SLABS) spareSlabs.push(slab);
        else discard(slab);
      }
      this.slabs.length = 0;
    }
  }

  slabOf(cell: number): Uint8Array {
    return this.slabs[Math.floor(cell / this.cellsPerSlab)]!;
  }

  offsetOf(cell: number): number {
    return (cell % this.cellsPerSlab) * this.cellSize;
  }
}

export class BodyArena {
  private readonly classes: SizeClass[] = [];
  private readonly classIndex = new Uint8Array(SMALL_MAX + 1);
  private readonly large: (Uint8Array | undefined)[] = [];
  private readonly largeFree: number[] = [];
  /** Idle large buffers by their length. */
  private readonly pool = new Map<number, Uint8Array[]>();
  private pooledBytes = 0;

  constructor() {
    let cls = -1;
    let size = 0;
    for (let n = 0; n <= SMALL_MAX; n++) {
      const want = cellSizeFor(n);
      if (want !== size) {
        size = want;
        this.classes.push(new SizeClass(size));
        cls++;
      }
      this.classIndex[n] = cls;
    }
  }

  /** Reserves room for `len` bytes; write them through `view`. */
  alloc(len: number): number {
    if (len > SMALL_MAX) {
      const i = this.largeFree.length ? this.largeFree.pop()! : this.large.length;
      this.large[i] = this.takeLarge(LARGE_HEADROOM + largeCellFor(len));
      return -(i + 1);
    }
    const cls = this.classIndex[len]!;
    return cls * CLASS_STRIDE + this.classes[cls]!.alloc();
  }

  release(handle: number): void {
    if (handle < 0) {
      const i = -handle - 1;
      this.giveLarge(this.large[i]!);
      this.large[i] = undefined;
      this.largeFree.push(i);
      return;
    }
    const cls = Math.floor(handle / CLASS_STRIDE);
    this.classes[cls]!.release(handle - cls * CLASS_STRIDE);
  }

  /** The `len` bytes stored under `handle` (a view, not a copy). */
  view(handle: number, len: number): Uint8Array {
    if (handle < 0) return this.large[-handle - 1]!.subarray(LARGE_HEADROOM, LARGE_HEADROOM + len);
    const cls = Math.floor(handle / CLASS_STRIDE);
    const c = this.classes[cls]!;
    const cell = handle - cls * CLASS_STRIDE;
    const off = c.offsetOf(cell);
    return c.slabOf(cell).subarray(off, off + len);
  }

  /** The array holding the body under `handle` (its bytes start at `offsetOf(handle)`). */
  bufferOf(handle: number): Uint8Array {
    if (handle < 0) return this.large[-handle - 1]!;
    const cls = Math.floor(handle / CLASS_STRIDE);
    return this.classes[cls]!.slabOf(handle - cls * CLASS_STRIDE);
  }

  /** Where the body under `handle` starts in `bufferOf(handle)`. */
  offsetOf(handle: number): number {
    if (handle < 0) return LARGE_HEADROOM;
    const cls = Math.floor(handle / CLASS_STRIDE);
    return this.classes[cls]!.offsetOf(handle - cls * CLASS_STRIDE);
  }

  /**
   * Gives back what is kept for reuse (idle pooled buffers, spare slabs):
   * called once the server has gone quiet, when reuse is not coming soon and
   * the memory would otherwise stay with the process (issue 12 item 5).
   * Bodies still stored are untouched.
   */
  releaseIdle(): void {
    for (const free of this.pool.values()) for (const buf of free) discard(buf);
    this.pool.clear();
    this.pooledBytes = 0;
    for (const slab of spareSlabs) discard(slab);
    spareSlabs.length = 0;
  }

  /** Bytes held in idle pooled buffers (for tests). */
  get idleBytes(): number {
    return this.pooledBytes;
  }

  private takeLarge(size: number): Uint8Array {
    const free = this.pool.get(size);
    if (free?.length) {
      this.pooledBytes -= size;
      return free.pop()!;
    }
    const buf = new Uint8Array(size);
    buf.subarray(0, 0); // see newSlab
    return buf;
  }

  private giveLarge(buf: Uint8Array): void {
    if (buf[0] !== 0) return; // still lent to a reply being written: the collector frees it after
    const size = buf.length;
    if (size > LARGE_HEADROOM + LARGE_POOL_CELL || this.pooledBytes + size > LARGE_POOL_BYTES) return discard(buf);
    let free = this.pool.get(size);
    if (!free) this.pool.set(size, (free = []));
    free.push(buf);
    this.pooledBytes += size;
  }
}
