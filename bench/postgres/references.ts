/**
 * The references of the PostgreSQL throughput bench, graphile-worker and
 * pg-boss, each configured as its docs recommend for throughput and doing
 * the same work as beanrun (CLIENTS producers enqueueing one job at a time,
 * CLIENTS concurrent workers), timed to the same durable end: the last job's
 * completion committed. Split out of throughput.ts (the 400-line rule).
 */

import { makeWorkerUtils, run as runGraphile } from "graphile-worker";
import { PgBoss } from "pg-boss";
import postgres from "postgres";
import { type Cost, spread, type Timer } from "./measure.ts";

/** Timed jobs, concurrent clients per side, and the untimed jobs each system handles first. */
export interface Load {
  jobs: number;
  clients: number;
  warmup: number;
}

/** Polls `sql` until `query` (a count) is 0: the jobs' completions are committed, as beanrun's DELETED is. */
async function drained(url: string, query: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    while (Number((await sql.unsafe(query))[0]!.n) > 0) await Bun.sleep(5);
  } finally {
    await sql.end();
  }
}

/** Counts handled jobs; `until(n)` resolves when n more were handled. */
function counter(): { add(n: number): void; until(n: number): Promise<void> } {
  let done = 0;
  let target = Infinity;
  let finish = () => {};
  return {
    add(n) {
      done += n;
      if (done >= target) finish();
    },
    until(n) {
      target = done + n;
      return new Promise<void>((r) => (finish = r));
    },
  };
}

/**
 * graphile-worker: CLIENTS producers calling addJob (each on a pooled
 * connection), a runner with concurrency CLIENTS. `batched`: what its
 * performance docs recommend for throughput (worker.graphile.org/docs/performance):
 * a local queue of concurrency + 1 jobs fetched at once, completions batched
 * (completeJobBatchDelay 0). The clock stops when every job's completion is
 * committed (graphile-worker completes a job after the task returned, without
 * waiting), so all systems are timed to the same durable end.
 */
export async function graphile(url: string, batched: boolean, time: Timer, load: Load): Promise<Cost> {
  const { jobs: JOBS, clients: CLIENTS, warmup: WARMUP } = load;
  const handled = counter();
  const { Logger } = await import("graphile-worker");
  const logger = new Logger(() => (level: string, msg: string) => void (level === "error" && console.error(msg)));
  // The same concurrency as the others: CLIENTS producers (each needs a pooled connection for addJob), CLIENTS workers.
  const utils = await makeWorkerUtils({ connectionString: url, logger, maxPoolSize: CLIENTS });
  await utils.migrate();
  const runner = await runGraphile({
    connectionString: url,
    concurrency: CLIENTS,
    maxPoolSize: CLIENTS + 2,
    noHandleSignals: true,
    pollInterval: 1000,
    logger,
    taskList: { t: async () => handled.add(1) },
    ...(batched ? { preset: { worker: { localQueue: { size: CLIENTS + 1 }, completeJobBatchDelay: 0 } } } : {}),
  });
  const cycle = async (jobs: number) => {
    const all = handled.until(jobs);
    await spread(jobs, CLIENTS, async () => void (await utils.addJob("t", { n: 1234567890 })));
    await all;
    await drained(url, "select count(*) as n from graphile_worker._private_jobs");
  };
  await cycle(WARMUP);
  const cost = await time([], () => cycle(JOBS));
  await runner.stop();
  await utils.release();
  return cost;
}

/**
 * pg-boss, configured for throughput as its docs say: LISTEN/NOTIFY on
 * (useListenNotify, a queue with notify), batches of CLIENTS jobs per fetch,
 * fetching again at once while batches come back full. The clock stops when
 * every job is completed in the database.
 */
export async function pgboss(url: string, time: Timer, load: Load): Promise<Cost> {
  const { jobs: JOBS, clients: CLIENTS, warmup: WARMUP } = load;
  const boss = new PgBoss({ connectionString: url, useListenNotify: true, max: CLIENTS + 4 });
  boss.on("error", (e) => console.error("pg-boss:", e));
  await boss.start();
  await boss.createQueue("q", { notify: true });
  const handled = counter();
  await boss.work("q", { batchSize: CLIENTS, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }, async (jobs: unknown[]) =>
    handled.add(jobs.length),
  );
  const cycle = async (jobs: number) => {
    const all = handled.until(jobs);
    await spread(jobs, CLIENTS, async () => void (await boss.send("q", { n: 1234567890 })));
    await all;
    await drained(url, "select count(*) as n from pgboss.job where name = 'q' and state <> 'completed'");
  };
  await cycle(WARMUP);
  const cost = await time([], () => cycle(JOBS));
  await boss.stop({ graceful: false, wait: true } as never);
  return cost;
}
