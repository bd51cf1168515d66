// The body arena, driven directly: every size around the class boundaries
// keeps its own bytes, freed cells and pooled large buffers are reused
// without leaking old bytes into a body's view, and idle memory stays bounded.
import { expect, test } from "bun:test";
import { BodyArena, cellSizeFor, LARGE_HEADROOM, LARGE_POOL_CELL, largeCellFor, SMALL_MAX } from "../../runtime/queue/arena.ts";

function fill(arena: BodyArena, h: number, len: number, seed: number): void {
  const v = arena.view(h, len);
  expect(v.length).toBe(len);
  for (let i = 0; i < len; i++) v[i] = (seed + i * 31) & 255;
}

function check(arena: BodyArena, h: number, len: number, seed: number): void {
  const v = arena.view(h, len);
  expect(v.length).toBe(len);
  for (let i = 0; i < len; i++) if (v[i] !== ((seed + i * 31) & 255)) throw new Error(`len ${len}: byte ${i} differs`);
}

/** Every size at and next to a class boundary, small and large. */
function boundarySizes(): number[] {
  const sizes = new Set<number>([0, 1, 2]);
  let prev = cellSizeFor(0);
  for (let n = 1; n <= 3 * 65536; n++) {
    const c = cellSizeFor(n);
    if (c !== prev) for (const d of [-2, -1, 0, 1]) sizes.add(n + d);
    prev = c;
  }
  for (const d of [-2, -1, 0, 1, 2]) {
    sizes.add(SMALL_MAX + d);
    sizes.add(LARGE_POOL_CELL + d);
    sizes.add(65537 + d);
  }
  return [...sizes].filter((n) => n >= 0).sort((a, b) => a - b);
}

test("class sizes fit their bodies with little slack", () => {
  for (let n = 0; n <= 3 * 65536; n += n < 10000 ? 1 : 7) {
    const c = cellSizeFor(n);
    expect(c).toBeGreaterThanOrEqual(n);
    if (n > SMALL_MAX) expect(c).toBeLessThanOrEqual(Math.ceil(n * 1.125));
  }
  expect(largeCellFor(LARGE_POOL_CELL + 1)).toBe(LARGE_POOL_CELL + 1);
  expect(largeCellFor(SMALL_MAX + 1)).toBe(4608);
  expect(largeCellFor(8192)).toBe(8192);
  expect(largeCellFor(8193)).toBe(9216);
});

test("bodies just below, at and above every class boundary keep their bytes", () => {
  const arena = new BodyArena();
  const sizes = boundarySizes();
  const live: [number, number, number][] = [];
  sizes.forEach((len, k) => {
    const h = arena.alloc(len);
    fill(arena, h, len, k);
    live.push([h, len, k]);
  });
  for (const [h, len, k] of live) check(arena, h, len, k);
  // Free every other one, re-allocate the same sizes (reusing cells and pooled
  // buffers) with new contents, and check that nothing overlaps.
  for (let i = 0; i < live.length; i += 2) arena.release(live[i]![0]);
  for (let i = 0; i < live.length; i += 2) {
    const [, len, k] = live[i]!;
    const h = arena.alloc(len);
    fill(arena, h, len, k + 1000);
    live[i] = [h, len, k + 1000];
  }
  for (const [h, len, k] of live) check(arena, h, len, k);
  for (const [h] of live) arena.release(h);
});

test("a freed large buffer is reused for a body of the same class", () => {
  const arena = new BodyArena();
  const a = arena.alloc(10242);
  const bufA = arena.view(a, 10242).buffer;
  fill(arena, a, 10242, 1);
  arena.release(a);
  expect(arena.idleBytes).toBe(LARGE_HEADROOM + largeCellFor(10242));
  // A slightly shorter body of the same class gets the same memory, viewed at its own length.
  const b = arena.alloc(10300);
  expect(arena.idleBytes).toBe(0);
  expect(arena.view(b, 10300).buffer).toBe(bufA);
  fill(arena, b, 10300, 2);
  check(arena, b, 10300, 2);
  arena.release(b);
});

test("idle large buffers are bounded; huge ones are not kept", () => {
  const arena = new BodyArena();
  const hs = [];
  for (let i = 0; i < 200; i++) hs.push(arena.alloc(65537));
  for (const h of hs) arena.release(h);
  expect(arena.idleBytes).toBeLessThanOrEqual(4 << 20);
  expect(arena.idleBytes).toBeGreaterThan(0);
  const big = arena.alloc(LARGE_POOL_CELL + 10);
  expect(arena.view(big, LARGE_POOL_CELL + 10).length).toBe(LARGE_POOL_CELL + 10);
  const before = arena.idleBytes;
  arena.release(big);
  expect(arena.idleBytes).toBe(before);
});

test("memory not kept for reuse is given back at release, not at the next collection", () => {
  const arena = new BodyArena();
  // A huge body's buffer (never pooled) is freed at once: its ArrayBuffer is detached.
  const big = arena.alloc(LARGE_POOL_CELL + 10);
  const bigBuf = arena.bufferOf(big);
  arena.release(big);
  expect(bigBuf.byteLength).toBe(0);
  // A body lent to a reply being written is left alone (the reply still reads it).
  const lent = arena.alloc(LARGE_POOL_CELL + 10);
  const lentBuf = arena.bufferOf(lent);
  lentBuf[0] = 1;
  arena.release(lent);
  expect(lentBuf.byteLength).toBe(LARGE_HEADROOM + LARGE_POOL_CELL + 10);
  // Pooled buffers keep their memory; those beyond the pool's bound are freed.
  const hs = Array.from({ length: 100 }, () => arena.alloc(65537));
  const bufs = hs.map((h) => arena.bufferOf(h));
  for (const h of hs) arena.release(h);
  const kept = bufs.filter((b) => b.byteLength > 0).length;
  expect(kept * bufs[0]!.byteLength).toBe(arena.idleBytes);
  expect(kept).toBeLessThan(bufs.length);
  // Slabs of an emptied class beyond the few spares are freed too.
  const small = Array.from({ length: 20_000 }, () => arena.alloc(100));
  const slabs = new Set(small.map((h) => arena.bufferOf(h)));
  for (const h of small) arena.release(h);
  expect([...slabs].filter((s) => s.byteLength === 0).length).toBeGreaterThan(0);
  expect([...slabs].filter((s) => s.byteLength > 0).length).toBeLessThanOrEqual(4);
});

test("a class that empties and fills again, over and over, keeps bodies apart", () => {
  const arena = new BodyArena();
  for (let round = 0; round < 50; round++) {
    const len = [100, 100, 3000, 20][round % 4]!;
    const a = arena.alloc(len);
    const b = arena.alloc(len);
    fill(arena, a, len, round);
    fill(arena, b, len, round + 7);
    check(arena, a, len, round);
    check(arena, b, len, round + 7);
    arena.release(a);
    arena.release(b);
  }
  // Many slabs' worth, then a drain: later allocations still work.
  const hs = [];
  for (let i = 0; i < 10_000; i++) {
    const h = arena.alloc(100);
    fill(arena, h, 100, i);
    hs.push(h);
  }
  hs.forEach((h, i) => check(arena, h, 100, i));
  for (const h of hs) arena.release(h);
  const h = arena.alloc(100);
  fill(arena, h, 100, 5);
  check(arena, h, 100, 5);
});

test("releaseIdle gives back pooled buffers and spare slabs; stored bodies keep their bytes and the arena works after", () => {
  const arena = new BodyArena();
  const keep = arena.alloc(70_000);
  fill(arena, keep, 70_000, 5);
  const keepSmall = arena.alloc(300);
  fill(arena, keepSmall, 300, 6);
  const pooled = Array.from({ length: 3 }, () => arena.alloc(65537));
  const pooledBufs = pooled.map((h) => arena.bufferOf(h));
  for (const h of pooled) arena.release(h);
  const small = Array.from({ length: 5000 }, () => arena.alloc(100));
  const slabs = new Set(small.map((h) => arena.bufferOf(h)));
  for (const h of small) arena.release(h);
  expect(arena.idleBytes).toBeGreaterThan(0);
  arena.releaseIdle();
  expect(arena.idleBytes).toBe(0);
  expect(pooledBufs.every((b) => b.byteLength === 0)).toBe(true);
  expect([...slabs].every((s) => s.byteLength === 0)).toBe(true);
  check(arena, keep, 70_000, 5);
  check(arena, keepSmall, 300, 6);
  // Allocation starts afresh: new buffers, new slabs.
  const again = [arena.alloc(65537), arena.alloc(100), arena.alloc(70_000)];
  fill(arena, again[0]!, 65537, 7);
  fill(arena, again[1]!, 100, 8);
  fill(arena, again[2]!, 70_000, 9);
  check(arena, again[0]!, 65537, 7);
  check(arena, again[1]!, 100, 8);
  check(arena, again[2]!, 70_000, 9);
  check(arena, keep, 70_000, 5);
  for (const h of [...again, keep, keepSmall]) arena.release(h);
});
