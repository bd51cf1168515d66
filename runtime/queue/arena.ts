/**
 * Job bodies, stored compactly.
 *
 * A JavaScript object plus its own buffer per job costs several hundred bytes
 * of overhead; a million queued jobs would then take almost three times the
 * memory beanstalkd needs. Small bodies therefore live in fixed-size cells of
 * large slabs, one slab family per size class, and a body is named by a single
 * integer handle. Bodies above SMALL_MAX get their own Uint8Array, where the
 * object overhead no longer matters.
 *
 * Handles: for a small body, `cls * CLASS_STRIDE + cell`; for a large body,
 * `-(index + 1)` into `large`.
 */
const SMALL_MAX = 4096;
const SLAB_BYTES = 1 << 18;
const CLASS_STRIDE = 2 ** 32;

function cellSizeFor(n: number): number {
  if (n <= 256) return Math.max(16, (n + 15) & ~15);
  if (n <= 1024) return (n + 63) & ~63;
  return (n + 255) & ~255;
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
    if (cell >= this.slabs.length * this.cellsPerSlab) {
      this.slabs.push(new Uint8Array(this.cellsPerSlab * this.cellSize));
    }
    return cell;
  }

  release(cell: number): void {
    this.free.push(cell);
    if (this.free.length === this.used) {
      // Everything in this class is free: give the slabs back.
      this.free = [];
      this.used = 0;
      this.slabs.length = 0;
    }
  }

  view(cell: number, len: number): Uint8Array {
    const slab = this.slabs[Math.floor(cell / this.cellsPerSlab)]!;
    const off = (cell % this.cellsPerSlab) * this.cellSize;
    return slab.subarray(off, off + len);
  }
}

export class BodyArena {
  private readonly classes: SizeClass[] = [];
  private readonly classIndex = new Uint8Array(SMALL_MAX + 1);
  private readonly large: (Uint8Array | undefined)[] = [];
  private readonly largeFree: number[] = [];

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
      const buf = new Uint8Array(len);
      const i = this.largeFree.length ? this.largeFree.pop()! : this.large.length;
      this.large[i] = buf;
      return -(i + 1);
    }
    const cls = this.classIndex[len]!;
    return cls * CLASS_STRIDE + this.classes[cls]!.alloc();
  }

  release(handle: number): void {
    if (handle < 0) {
      const i = -handle - 1;
      this.large[i] = undefined;
      this.largeFree.push(i);
      return;
    }
    const cls = Math.floor(handle / CLASS_STRIDE);
    this.classes[cls]!.release(handle - cls * CLASS_STRIDE);
  }

  /** The `len` bytes stored under `handle` (a view, not a copy). */
  view(handle: number, len: number): Uint8Array {
    if (handle < 0) return this.large[-handle - 1]!.subarray(0, len);
    const cls = Math.floor(handle / CLASS_STRIDE);
    return this.classes[cls]!.view(handle - cls * CLASS_STRIDE, len);
  }
}
