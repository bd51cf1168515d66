// The job store's id index, driven directly (it is plain TypeScript): lookups
// stay right through growth, random deletions and shrinking after a drain.
import { expect, test } from "bun:test";
import { JobStore, NONE } from "../../runtime/queue/jobs.ts";

test("ids map to their slots through growth, random deletes and a full drain", () => {
  const s = new JobStore();
  const n = 200_000;
  const slotOf = new Map<number, number>();
  for (let id = 1; id <= n; id++) slotOf.set(id, s.alloc(id, 10));

  // Delete a pseudo-random half (deterministic LCG).
  let x = 12345;
  const gone = new Set<number>();
  while (gone.size < n / 2) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const id = (x % n) + 1;
    if (gone.has(id)) continue;
    gone.add(id);
    s.free(slotOf.get(id)!);
  }
  for (let id = 1; id <= n; id++) {
    expect(s.find(id)).toBe(gone.has(id) ? NONE : slotOf.get(id)!);
  }

  // Drain the rest oldest first (as a queue does), checking a neighbour each time.
  for (let id = 1; id <= n; id++) {
    if (gone.has(id)) continue;
    s.free(slotOf.get(id)!);
    if (id < n && !gone.has(id + 1)) expect(s.find(id + 1)).toBe(slotOf.get(id + 1)!);
  }
  expect(s.count).toBe(0);
  expect(s.find(1)).toBe(NONE);
  expect(s.find(n)).toBe(NONE);

  // Slots are reused; ids are not confused with old ones.
  const a = s.alloc(n + 1, 5);
  expect(s.find(n + 1)).toBe(a);
  expect(s.find(n)).toBe(NONE);
});

test("ids beyond 2^32 hash and look up correctly", () => {
  const s = new JobStore();
  const base = 2 ** 40;
  const slots = [];
  for (let i = 0; i < 5000; i++) slots.push(s.alloc(base + i * 4294967296 + i, 1));
  for (let i = 0; i < 5000; i++) expect(s.find(base + i * 4294967296 + i)).toBe(slots[i]!);
  for (let i = 0; i < 5000; i += 2) s.free(slots[i]!);
  for (let i = 0; i < 5000; i++) expect(s.find(base + i * 4294967296 + i)).toBe(i % 2 ? slots[i]! : NONE);
});
