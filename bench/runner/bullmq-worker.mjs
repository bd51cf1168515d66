// The benchmark's BullMQ worker, run by Node: the same no-op handler as
// bench/runner/jobs/bench.ts. Usage: node bullmq-worker.mjs REDIS_PORT CONCURRENCY
import { writeFileSync } from "node:fs";
import { Worker } from "bullmq";

const port = Number(process.argv[2]);
const concurrency = Number(process.argv[3] ?? 1);
const latencies = [];

const worker = new Worker(
  "bench",
  async (job) => {
    const p = job.data;
    if (p.t !== undefined) latencies.push(performance.timeOrigin + performance.now() - p.t);
    else if (p.dump !== undefined) {
      writeFileSync(p.dump, JSON.stringify(latencies));
      latencies.length = 0;
    }
  },
  { connection: { host: "127.0.0.1", port }, concurrency, removeOnComplete: { count: 0 }, removeOnFail: { count: 0 } },
);
worker.on("error", (e) => console.error(`bullmq worker: ${e.message}`));
await worker.waitUntilReady();
console.log("ready");
const stop = async () => {
  await worker.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
