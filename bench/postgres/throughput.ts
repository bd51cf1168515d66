/**
 * put -> reserve -> delete through 1, 2 and 3 beanrun front ends on one
 * PostgreSQL database, against graphile-worker (as it comes, and batched as
 * its performance docs recommend) and pg-boss (LISTEN/NOTIFY and batch
 * fetching, as its docs recommend) doing the same work (enqueue one job at a
 * time from CLIENTS producers, CLIENTS concurrent consumers, complete each
 * job) on the same cluster, side by side in one run, alternating, medians of
 * the rounds. Each system first handles --warmup jobs per process untimed on
 * the same processes and connections (beanrun with N front ends: N times
 * that many, so each front end's JIT and caches are as warm as one front
 * end's; measured with three front ends and 100 warm-up jobs each, the JIT
 * compiler's thread was still a fifth of their CPU); the clock stops when the last job's
 * delete/completion is committed. Then the wake-up latency across front ends
 * (a reserve waiting on B, a put through A). synchronous_commit is on (and
 * fsync): every acknowledged job is on disk for all three systems.
 *
 *   bun bench/postgres/throughput.ts [--jobs N] [--rounds R] [--clients C] [--warmup N]
 *     [--only bean1,bean2,bean3,graphile,graphileb,pgboss] [--wake ROUNDS (0: none)]
 *     [--sync-reserve] [--statements]
 *
 * `--only wake` runs the wake-up measurement alone. `--sync-reserve` makes
 * beanrun's reservations wait for the WAL flush too (BEANRUN_PG_SYNC_RESERVE=1).
 * Each system's line also says, per job, how many transactions
 * (pg_stat_database.xact_commit of its database) and WAL flushes
 * (pg_stat_wal.wal_sync) it cost, and the CPU time of PostgreSQL, of
 * beanrun's front ends (and of that, the kernel's; and by thread: the main
 * thread, the JIT compiler, the garbage collector's helpers, the allocator's
 * scavenger) and of this process (the clients, and graphile-worker's
 * and pg-boss's workers): on a loaded machine the CPU per job is steadier
 * than the rate. With clients that wait for each reply, the rate is clients
 * / latency: beanrun's lines also give each command type's latency (put,
 * reserve, delete; p50/p90/p99) and every line the mean duration of a WAL
 * flush (track_wal_io_timing). `--statements` lists each system's statements per job
 * (pg_stat_statements).
 *
 * A throwaway cluster (test/postgres/cluster.ts) is started and removed.
 * Figures on a shared 2-core machine are noisy: read the ratios.
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { type Cluster, startCluster } from "../../test/postgres/cluster.ts";
import { Wire } from "../../test/support/wire.ts";
import { type Cost, spread, type Timer, timer } from "./measure.ts";
import { graphile, pgboss } from "./references.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "3000" },
    rounds: { type: "string", default: "2" },
    clients: { type: "string", default: "16" },
    warmup: { type: "string", default: "1000" },
    only: { type: "string", default: "" },
    wake: { type: "string", default: "200" },
    "sync-reserve": { type: "boolean", default: false },
    statements: { type: "boolean", default: false },
  },
});
const ONLY = values.only ? values.only.split(",") : [];
const JOBS = Number(values.jobs);
const ROUNDS = Number(values.rounds);
const CLIENTS = Number(values.clients);
/** Jobs each system handles per process before the timed ones (JIT, caches, pools), on the same processes and connections. */
const WARMUP = Number(values.warmup);
const LOAD = { jobs: JOBS, clients: CLIENTS, warmup: WARMUP };
const ROOT = join(import.meta.dir, "../..");

interface Front {
  port: number;
  pid: number;
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
      // BENCH_FRONT_STDERR=1: pass the front ends' later stderr through (errors, traces).
      const echo = process.env.BENCH_FRONT_STDERR === "1";
      void (async () => {
        for (let r = await reader.read(); !r.done; r = await reader.read()) if (echo) process.stderr.write(r.value);
      })();
      const stop = async () => {
        proc.kill();
        // A front end that does not finish its graceful stop is reported and killed, not waited for forever.
        const late = setTimeout(() => {
          console.log(`    front end ${proc.pid} still running 10 s after SIGTERM: killed`);
          proc.kill("SIGKILL");
        }, 10_000);
        await proc.exited;
        clearTimeout(late);
      };
      return { port: Number(m[1]), pid: proc.pid, stop };
    }
  }
}

const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const dbName = (url: string) => new URL(url).pathname.slice(1);

/** beanrun: CLIENTS producer and CLIENTS consumer connections spread round-robin over `fronts` front ends. */
async function beanrun(url: string, fronts: number, time: Timer): Promise<Cost> {
  const fe: Front[] = [];
  for (let i = 0; i < fronts; i++) fe.push(await startFront(url));
  const producers = await Promise.all(Array.from({ length: CLIENTS }, (_, k) => Wire.open(fe[k % fronts]!.port)));
  const consumers = await Promise.all(Array.from({ length: CLIENTS }, (_, k) => Wire.open(fe[k % fronts]!.port)));
  let timedOut = 0;
  // Latency of each command type (ms, sent -> reply), recorded in the timed cycle only.
  const lat: Record<"put" | "reserve" | "delete", number[]> = { put: [], reserve: [], delete: [] };
  let record = false;
  const timed = async (kind: keyof typeof lat, w: Wire, cmd: string): Promise<string> => {
    const t0 = performance.now();
    const r = await w.cmd(cmd, 30_000);
    if (record) lat[kind].push(performance.now() - t0);
    return r;
  };
  /**
   * Puts and consumes `jobs` jobs. `deleted` resolves at the last job's
   * DELETED, where the clock stops (as the references' stops at their last
   * completion); `finished` once every consumer has returned, which includes
   * the reserves still waiting for a job that will not come (they time out
   * after 1 s: timed, that tail cost beanrun up to a second per run).
   */
  const cycle = (jobs: number) => {
    let done = 0;
    let allDeleted = () => {};
    const deleted = new Promise<void>((r) => (allDeleted = r));
    const consume = Promise.all(
      consumers.map(async (w) => {
        while (done < jobs) {
          const t0 = performance.now();
          const r = await w.cmd("reserve-with-timeout 1\r\n", 30_000);
          if (!r.startsWith("RESERVED")) {
            timedOut++;
            continue;
          }
          if (record) lat.reserve.push(performance.now() - t0);
          const id = /RESERVED (\d+)/.exec(r)![1];
          if ((await timed("delete", w, `delete ${id}\r\n`)) === "DELETED\r\n" && ++done === jobs) allDeleted();
        }
      }),
    );
    const produce = spread(jobs, CLIENTS, async (k) => {
      const r = await timed("put", producers[k]!, 'put 0 0 60 16\r\n{"n":1234567890}\r\n');
      if (!r.startsWith("INSERTED")) throw new Error(`put: ${r}`);
    });
    return { deleted: Promise.all([deleted, produce]), finished: Promise.all([consume, produce]) };
  };
  await cycle(WARMUP * fronts).finished;
  timedOut = 0;
  record = true;
  let timedCycle: ReturnType<typeof cycle> | undefined;
  const cost = await time(
    fe.map((f) => f.pid),
    async () => void (await (timedCycle = cycle(JOBS)).deleted),
  );
  await timedCycle!.finished;
  const f = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} p90 ${pct(xs, 90).toFixed(1)} p99 ${pct(xs, 99).toFixed(1)}`;
  console.log(`    latency ms: put ${f(lat.put)}; reserve ${f(lat.reserve)}; delete ${f(lat.delete)}`);
  // A reserve that timed out while jobs were coming in was a missed wake-up (the last ones are the end of the run).
  if (timedOut > CLIENTS) console.log(`    ${timedOut} reserves timed out (a wake-up missed?)`);
  for (const w of [...producers, ...consumers]) w.close();
  await Promise.all(fe.map((f) => f.stop()));
  return cost;
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

// --statements: what each system ran, per job (pg_stat_statements; costs a little itself).
// track_wal_io_timing: how long each WAL flush takes (a clock read per flush).
const cluster = await startCluster([
  "-c",
  "track_wal_io_timing=on",
  ...(values.statements ? ["-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track_utility=on"] : []),
]);
if (values.statements) {
  const sql = postgres(cluster.url(), { max: 1, onnotice: () => {} });
  await sql`create extension pg_stat_statements`;
  await sql.end();
}
try {
  const sql = postgres(cluster.url(), { max: 1, onnotice: () => {} });
  const [s] = await sql`select current_setting('synchronous_commit') as sc, current_setting('fsync') as f, version() as v`;
  await sql.end();
  console.log(
    `${JOBS} jobs, ${CLIENTS} producers + ${CLIENTS} consumers, ${ROUNDS} rounds; synchronous_commit=${s!.sc} fsync=${s!.f}; ${String(s!.v).split(" on ")[0]}; beanrun reserves ${values["sync-reserve"] ? "wait for the WAL flush" : "commit without waiting for the flush"}`,
  );
  const all: [string, (url: string, time: Timer) => Promise<Cost>][] = [
    ["beanrun, 1 front end", (u, t) => beanrun(u, 1, t)],
    ["beanrun, 2 front ends", (u, t) => beanrun(u, 2, t)],
    ["beanrun, 3 front ends", (u, t) => beanrun(u, 3, t)],
    ["graphile-worker", (u, t) => graphile(u, false, t, LOAD)],
    ["graphile-worker, batched", (u, t) => graphile(u, true, t, LOAD)],
    ["pg-boss", (u, t) => pgboss(u, t, LOAD)],
  ];
  const keys = ["bean1", "bean2", "bean3", "graphile", "graphileb", "pgboss"];
  const systems = all.filter((_, i) => !ONLY.length || ONLY.includes(keys[i]!));
  const results = new Map<string, number[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of r % 2 ? [...systems].reverse() : systems) {
      const url = await cluster.database();
      const { rate, xacts, syncs, syncMs, cpu } = await fn(url, timer(cluster, dbName(url), { jobs: JOBS, statements: values.statements }));
      (results.get(name) ?? results.set(name, []).get(name)!).push(rate);
      console.log(
        `  round ${r + 1}: ${name.padEnd(24)} ${rate.toFixed(0).padStart(7)} jobs/s   ${xacts.toFixed(2)} commits/job, ${syncs.toFixed(2)} WAL flushes/job (${syncMs.toFixed(1)} ms each), ` +
          `CPU ms/job: PostgreSQL ${cpu.pg.toFixed(2)}, front ends ${cpu.fronts.toFixed(2)} (kernel ${cpu.frontsKernel.toFixed(2)}), clients+workers ${cpu.bench.toFixed(2)}`,
      );
    }
  }
  if (systems.length) {
    const ref = ["graphile-worker", "graphile-worker, batched", "pg-boss"].map((n) => results.get(n)).filter((x) => x !== undefined);
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
