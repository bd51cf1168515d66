/**
 * How busy a Bun process's JIT compiler has been, read from /proc: the
 * benchmarks measure a server only once its compiler threads have gone quiet,
 * because their CPU lands on the server's pinned core (bench/README.md).
 */
import { readdirSync, readFileSync } from "node:fs";

/**
 * CPU seconds used so far by a process's JIT compiler threads (JavaScriptCore's
 * "JITWorker"; a server without them, such as beanstalkd, reports 0).
 */
export function jitSeconds(pid: number): number {
  let sum = 0;
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        if (readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim() !== "JITWorker") continue;
        const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        sum += (Number(f[11]) + Number(f[12])) / 100;
      } catch {} // the thread ended meanwhile
    }
  } catch {}
  return sum;
}
