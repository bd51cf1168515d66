/**
 * Preloaded into a beanrun server by bench/timers.ts (`bun --preload`): a
 * 10 ms interval timer records how late each of its ticks fires, which is
 * how late any timer of the server (a delayed job's, a TTR's) can fire
 * because of what the server's own event loop was doing. At exit it prints
 * one line to stderr, `loop-lag p50=<ms> p99=<ms> max=<ms> n=<ticks>`, so a
 * benchmark can tell the server's lateness from its client's.
 */
const EVERY = 10;
const lags: number[] = [];
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  lags.push(Math.max(0, now - last - EVERY));
  last = now;
}, EVERY).unref();

function report(): void {
  const s = [...lags].sort((a, b) => a - b);
  const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN);
  process.stderr.write(
    `loop-lag p50=${at(0.5).toFixed(2)} p99=${at(0.99).toFixed(2)} max=${(s[s.length - 1] ?? NaN).toFixed(2)} n=${s.length}\n`,
  );
}
process.on("exit", report);
