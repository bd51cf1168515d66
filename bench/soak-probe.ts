/**
 * Preloaded into a beanrun server by `bench/soak.ts --heap`: prints
 * JavaScriptCore's heap figures to stderr every 10 s, and on SIGUSR2 runs a
 * full collection first and says what it cost. A soak can then tell retained
 * JavaScript objects (the counts stay up after a full collection) from
 * garbage not yet collected and from memory the allocator keeps after the
 * objects are gone (RSS high, heap small).
 */
import { heapStats, memoryUsage } from "bun:jsc";

function line(label: string): string {
  const h = heapStats();
  const top = Object.entries(h.objectTypeCounts)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  return `${label} t=${Math.round(performance.now() / 1000)}s rss=${mb(process.memoryUsage().rss)} mimalloc=${mb(memoryUsage().currentCommit)} heap=${mb(h.heapSize)} cap=${mb(h.heapCapacity)} extra=${mb(h.extraMemorySize)} objects=${h.objectCount} top: ${top}`;
}

setInterval(() => console.error(line("heap")), 10_000).unref();

process.on("SIGUSR2", () => {
  const before = process.memoryUsage().rss;
  const t = performance.now();
  Bun.gc(true);
  const ms = performance.now() - t;
  console.error(line(`heap after-gc(${ms.toFixed(1)} ms, rss before ${(before / 2 ** 20).toFixed(1)})`));
});
