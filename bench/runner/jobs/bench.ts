/**
 * The benchmark's beanrun handler: a no-op. Jobs whose payload carries `t`
 * (the put time, epoch ms from performance.timeOrigin + performance.now())
 * record put-to-handler-start latency; a `{ dump: FILE }` job writes them.
 * bench/runner/bullmq-worker.mjs does exactly the same for BullMQ.
 */
import { writeFileSync } from "node:fs";
import { defineJob } from "../../../runtime/index.ts";

const latencies: number[] = [];

export default defineJob({
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 1),
  ttr: 60,
  retries: { attempts: 1 },
  // One process always warm, as BullMQ's worker is: this measures steady state, not cold starts.
  processes: { min: 1 },
  handler(p: { t?: number; dump?: string }) {
    if (p.t !== undefined) latencies.push(performance.timeOrigin + performance.now() - p.t);
    else if (p.dump !== undefined) {
      writeFileSync(p.dump, JSON.stringify(latencies));
      latencies.length = 0;
    }
  },
});
