/**
 * put -> reserve -> delete through 1, 2 and 3 beanrun front ends on one
 * PostgreSQL database, against graphile-worker and pg-boss doing the same
 * work (enqueue one job at a time, process it, complete it) on the same
 * cluster, side by side in one run, alternating, medians of the rounds.
 * Then the wake-up latency across front ends (a reserve waiting on B, a put
 * through A). synchronous_commit is on (and fsync): every acknowledged job is
 * on disk for all three systems.
 *
 *   bun bench/postgres/throughput.ts [--jobs N] [--rounds R] [--clients C]
 *     [--only bean1,bean2,bean3,graphile,pgboss] [--wake ROUNDS (0: none)] [--sync-reserve]
 *
 * `--only wake` runs the wake-up measurement alone. `--sync-reserve` makes
 * beanrun's reservations wait for the WAL flush too (BEANRUN_PG_SYNC_RESERVE=1). Each system's line also
 * says how many transactions (pg_stat_database.xact_commit of its database)
 * and WAL flushes (pg_stat_wal.wal_sync) each job cost: group commit at work.
 *
 * A throwaway cluster (test/postgres/cluster.ts) is started and removed.
 * Figures on a shared 2-core machine are noisy: read the ratios.
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeWorkerUtils, run as runGraphile } from "graphile-worker";
import { PgBoss } from "pg-boss";
import postgres from "postgres";
import { type Cluster, startCluster } from "../../test/postgres/cluster.ts";
import { Wire } from "../../test/support/wire.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "3000" },
    rounds: { type: "string", default: "2" },
    clients: { type: "string", default: "16" },
    only: { type: "string", default: "" },
    wake: { type: "string", default: "200" },
    "sync-reserve": { type: "boolean", default: false },
  },
});
const ONLY = values.only ? values.only.split(",") : [];
const JOBS = Number(values.jobs);
const ROUNDS = Number(values.rounds);
const CLIENTS = Number(values.clients);
const ROOT = join(import.meta.dir, "../..");

interface Front {
  port: number;
  stop(): Promise<void>;
}

async function startFront(url: string): Promise<Front> {
  // BENCH_FRONT_FLAGS: runtime flags for the front ends (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
  const flags = (process.env.BENCH_FRONT_FLAGS ?? "").split(" ").filter(Boolean);
  const env = values["sync-reserve"] ? { ...process.env, BEANRUN_PG_SYNC_RESERVE: "1" } : process.env;
  const proc = Bun.spawn([process.execPath, ...flags, join(ROOT, "runtime/cli.ts"), "serve", "-p", "0", "--store", url], {
    env,
    stderr: "pipe",
    stdout: "ignore",
  });
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`front end did not start: ${text}`);
    text += new TextDecoder().decode(value);
    const m = /listening on [^\s]+:(\d+)/.exec(text);
    if (m) {
      void (async () => {
        while (!(await reader.read()).done);
      })();
      return { port: Number(m[1]), stop: async () => void (proc.kill(), await proc.exited) };
    }
  }
}

/** Runs `jobs` units over `clients` concurrent loops. */
async function spread(jobs: number, clients: number, one: (k: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, k) => {
      while (next < jobs) {
        next++;
        await one(k);
      }
    }),
  );
}

/** Commits in `db` and WAL flushes (cluster-wide) while `fn` runs: the cost of group commit, per job. */
async function counted(cluster: Cluster, db: string, fn: () => Promise<number>): Promise<{ rate: number; xacts: number; syncs: number }> {
  const sql = postgres(cluster.url(), { max: 1, onnotice: () => {} });
  const probe = async () => {
    await sql`select pg_stat_clear_snapshot()`;
    const [r] = await sql`select (select xact_commit from pg_stat_database where datname = ${db})::float8 as x,
      (select wal_sync from pg_stat_wal)::float8 as s`;
    return r!;
  };
  const a = await probe();
  const rate = await fn();
  await Bun.sleep(600); // statistics are reported by backends at most every 500 ms
  const b = await probe();
  await sql.end();
  return { rate, xacts: (b.x - a.x) / JOBS, syncs: (b.s - a.s) / JOBS };
}

const dbName = (url: string) => new URL(url).pathname.slice(1);

async function beanrun(url: string, fronts: number): Promise<number> {
  const fe: Front[] = [];
  for (let i = 0; i < fronts; i++) fe.push(await startFront(url));
  const producers = await Promise.all(Array.from({ length: CLIENTS }, (_, k) => Wire.open(fe[k % fronts]!.port)));
  const consumers = await Promise.all(Array.from({ length: CLIENTS }, (_, k) => Wire.open(fe[k % fronts]!.port)));
  const t0 = performance.now();
  let done = 0;
  const consume = Promise.all(
    consumers.map(async (w) => {
      while (done < JOBS) {
        const r = await w.cmd("reserve-with-timeout 1\r\n", 30_000);
        if (!r.startsWith("RESERVED")) continue;
        const id = /RESERVED (\d+)/.exec(r)![1];
        if ((await w.cmd(`delete ${id}\r\n`, 30_000)) === "DELETED\r\n") done++;
      }
    }),
  );
  await spread(JOBS, CLIENTS, async (k) => {
    const r = await producers[k]!.cmd('put 0 0 60 16\r\n{"n":1234567890}\r\n', 30_000);
    if (!r.startsWith("INSERTED")) throw new Error(`put: ${r}`);
  });
  await consume;
  const rate = JOBS / ((performance.now() - t0) / 1000);
  for (const w of [...producers, ...consumers]) w.close();
  await Promise.all(fe.map((f) => f.stop()));
  return rate;
}

async function graphile(url: string): Promise<number> {
  let done = 0;
  let finish!: () => void;
  const all = new Promise<void>((r) => (finish = r));
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const { Logger } = await import("graphile-worker");
  const logger = new Logger(() => (level: string, msg: string) => void (level === "error" && console.error(msg)));
  void silent;
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
    taskList: { t: async () => void (++done === JOBS && finish()) },
  });
  const t0 = performance.now();
  await spread(JOBS, CLIENTS, async () => void (await utils.addJob("t", { n: 1234567890 })));
  await all;
  const rate = JOBS / ((performance.now() - t0) / 1000);
  await runner.stop();
  await utils.release();
  return rate;
}

async function pgboss(url: string): Promise<number> {
  const boss = new PgBoss(url);
  boss.on("error", (e) => console.error("pg-boss:", e));
  await boss.start();
  await boss.createQueue("q");
  let done = 0;
  let finish!: () => void;
  const all = new Promise<void>((r) => (finish = r));
  await boss.work("q", { batchSize: CLIENTS, pollingIntervalSeconds: 0.5 }, async (jobs: unknown[]) => {
    done += jobs.length;
    if (done >= JOBS) finish();
  });
  const t0 = performance.now();
  await spread(JOBS, CLIENTS, async () => void (await boss.send("q", { n: 1234567890 })));
  await all;
  const rate = JOBS / ((performance.now() - t0) / 1000);
  await boss.stop({ graceful: false, wait: true } as never);
  return rate;
}

/** Per round: put sent -> INSERTED on A (the commit), and put sent -> RESERVED on B (commit, NOTIFY, B's reserve). */
async function wakeLatency(cluster: Cluster, rounds: number): Promise<{ wake: number[]; commit: number[] }> {
  const url = await cluster.database();
  const [a, b] = [await startFront(url), await startFront(url)];
  const pa = await Wire.open(a.port);
  const rb = await Wire.open(b.port);
  const wake: number[] = [];
  const commit: number[] = [];
  for (let i = 0; i < rounds; i++) {
    rb.send("reserve\r\n");
    await Bun.sleep(20);
    const t0 = performance.now();
    pa.send("put 0 0 60 1\r\nx\r\n");
    const [got] = await Promise.all([
      rb.reply(10_000).then((r) => (wake.push(performance.now() - t0), r)),
      pa.reply(10_000).then(() => commit.push(performance.now() - t0)),
    ]);
    await rb.cmd(`delete ${/RESERVED (\d+)/.exec(got)![1]}\r\n`);
  }
  pa.close();
  rb.close();
  await a.stop();
  await b.stop();
  return { wake, commit };
}

const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

const cluster = await startCluster();
try {
  const sql = postgres(cluster.url(), { max: 1, onnotice: () => {} });
  const [s] = await sql`select current_setting('synchronous_commit') as sc, current_setting('fsync') as f, version() as v`;
  await sql.end();
  console.log(
    `${JOBS} jobs, ${CLIENTS} producers + ${CLIENTS} consumers, ${ROUNDS} rounds; synchronous_commit=${s!.sc} fsync=${s!.f}; ${String(s!.v).split(" on ")[0]}; beanrun reserves ${values["sync-reserve"] ? "wait for the WAL flush" : "commit without waiting for the flush"}`,
  );
  const all: [string, (url: string) => Promise<number>][] = [
    ["beanrun, 1 front end", (u) => beanrun(u, 1)],
    ["beanrun, 2 front ends", (u) => beanrun(u, 2)],
    ["beanrun, 3 front ends", (u) => beanrun(u, 3)],
    ["graphile-worker", graphile],
    ["pg-boss", pgboss],
  ];
  const keys = ["bean1", "bean2", "bean3", "graphile", "pgboss"];
  const systems = all.filter((_, i) => !ONLY.length || ONLY.includes(keys[i]!));
  const results = new Map<string, number[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of r % 2 ? [...systems].reverse() : systems) {
      const url = await cluster.database();
      const { rate, xacts, syncs } = await counted(cluster, dbName(url), () => fn(url));
      (results.get(name) ?? results.set(name, []).get(name)!).push(rate);
      console.log(
        `  round ${r + 1}: ${name.padEnd(24)} ${rate.toFixed(0).padStart(7)} jobs/s   ${xacts.toFixed(2)} commits/job, ${syncs.toFixed(2)} WAL flushes/job`,
      );
    }
  }
  if (systems.length) {
    const ref = ["graphile-worker", "pg-boss"].map((n) => results.get(n)).filter((x) => x !== undefined);
    const best = ref.length ? Math.max(...ref.map(med)) : Number.NaN;
    console.log("\nmedians (put -> reserve -> delete, jobs/s):");
    for (const [name, rates] of results) {
      const m = med(rates);
      console.log(`  ${name.padEnd(24)} ${m.toFixed(0).padStart(7)}   ${(m / best).toFixed(2)}x the better of graphile-worker and pg-boss`);
    }
  }
  if (Number(values.wake) > 0) {
    const { wake, commit } = await wakeLatency(cluster, Number(values.wake));
    const f = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms`;
    console.log(`\nwake-up across front ends (reserve waiting on B, put through A), ${wake.length} rounds: ${f(wake)}`);
    console.log(`  of which the put's own commit (INSERTED on A): ${f(commit)}`);
  }
} finally {
  await cluster.stop();
}
