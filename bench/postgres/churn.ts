/**
 * Table size under churn: a steady queue (LIVE jobs always waiting) through
 * which put -> reserve -> delete cycles run for --secs seconds, sampling the
 * size of beanrun_jobs (heap + indexes + TOAST) and its dead tuples every
 * --every seconds. Deleted rows must not make the table grow without bound:
 * the table's autovacuum settings (migrations.ts) reclaim them after 1% of
 * the rows changed, and the space is reused.
 *
 *   bun bench/postgres/churn.ts [--secs 150] [--every 10] [--live 1000] [--naptime 15s]
 *
 * The cluster is a throwaway one; autovacuum_naptime is set for it (the
 * default, 1 min, bounds the size too, with a higher plateau).
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { startCluster } from "../../test/postgres/cluster.ts";
import { Wire } from "../../test/support/wire.ts";

const { values } = parseArgs({
  options: {
    secs: { type: "string", default: "150" },
    every: { type: "string", default: "10" },
    live: { type: "string", default: "1000" },
    naptime: { type: "string", default: "15s" },
    clients: { type: "string", default: "16" },
  },
});
const SECS = Number(values.secs);
const LIVE = Number(values.live);
const CLIENTS = Number(values.clients);
const ROOT = join(import.meta.dir, "../..");

const cluster = await startCluster(["-c", `autovacuum_naptime=${values.naptime}`]);
const url = await cluster.database();
const proc = Bun.spawn([process.execPath, join(ROOT, "runtime/cli.ts"), "serve", "-p", "0", "--store", url], {
  stderr: "pipe",
  stdout: "ignore",
});
try {
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  let text = "";
  let port = 0;
  while (!port) {
    const { value, done } = await reader.read();
    if (done) throw new Error(text);
    text += new TextDecoder().decode(value);
    port = Number(/listening on [^\s]+:(\d+)/.exec(text)?.[1] ?? 0);
  }
  void (async () => {
    while (!(await reader.read()).done);
  })();
  const body = "x".repeat(200);
  const ws = await Promise.all(Array.from({ length: CLIENTS }, () => Wire.open(port)));
  for (let i = 0; i < LIVE; i++) await ws[i % CLIENTS]!.cmd(`put 0 0 60 ${body.length}\r\n${body}\r\n`, 30_000);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const size = async () => {
    const [r] = await sql`select pg_total_relation_size('beanrun_jobs')::float8 as total, pg_relation_size('beanrun_jobs')::float8 as heap,
      (select n_dead_tup from pg_stat_user_tables where relname = 'beanrun_jobs')::float8 as dead,
      (select autovacuum_count from pg_stat_user_tables where relname = 'beanrun_jobs')::float8 as vacuums,
      (select count(*) from beanrun_jobs)::float8 as live`;
    return r!;
  };
  const end = Date.now() + SECS * 1000;
  let cycles = 0;
  const work = Promise.all(
    ws.map(async (w) => {
      while (Date.now() < end) {
        await w.cmd(`put 0 0 60 ${body.length}\r\n${body}\r\n`, 30_000);
        const r = await w.cmd("reserve-with-timeout 5\r\n", 30_000);
        const id = /RESERVED (\d+)/.exec(r)?.[1];
        if (id && (await w.cmd(`delete ${id}\r\n`, 30_000)) === "DELETED\r\n") cycles++;
      }
    }),
  );
  console.log(
    `${LIVE} jobs always waiting, ${CLIENTS} clients cycling put -> reserve -> delete (200-byte bodies), autovacuum_naptime=${values.naptime}`,
  );
  console.log("  secs   cycles   live rows   dead rows   autovacuums   table+indexes   heap");
  const t0 = Date.now();
  for (;;) {
    const s = await size();
    const mb = (b: number) => `${(b / 1048576).toFixed(2)} MiB`;
    console.log(
      `  ${String(Math.round((Date.now() - t0) / 1000)).padStart(4)}  ${String(cycles).padStart(7)}  ${String(s.live).padStart(10)}  ${String(s.dead).padStart(10)}  ${String(s.vacuums).padStart(12)}  ${mb(s.total).padStart(14)}  ${mb(s.heap).padStart(10)}`,
    );
    if (Date.now() >= end) break;
    await Bun.sleep(Number(values.every) * 1000);
  }
  await work;
  await sql.end();
  for (const w of ws) w.close();
} finally {
  proc.kill();
  await proc.exited;
  await cluster.stop();
}
