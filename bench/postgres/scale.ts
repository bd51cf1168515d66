/**
 * Reserve at millions of jobs: does a reserve stay an index descent (O(log n))
 * when a tube holds N ready jobs, and what do stats-tube's exact counts cost?
 *
 *   bun bench/postgres/scale.ts [--jobs 1000000] [--cycles 300]
 *
 * Fills one tube with N ready jobs by SQL (generate_series, far faster than
 * N puts), plus N/10 buried in another tube, then through one front end:
 * reserve + delete cycles one at a time (latency p50/p99), the same on an
 * empty database for reference, stats-tube on the full tube, the table's and
 * its indexes' size, and the plans of both reserve statements (one watched
 * tube, several; EXPLAIN ANALYZE, buffers). Loaded-machine figures:
 * read the ratio to the empty database and the plan, not the absolutes.
 */

import { parseArgs } from "node:util";
import postgres from "postgres";
import { type Cluster, startCluster } from "../../test/postgres/cluster.ts";
import { type ServerProcess, startOurs } from "../../test/support/servers.ts";
import { Wire } from "../../test/support/wire.ts";

const { values } = parseArgs({ options: { jobs: { type: "string", default: "1000000" }, cycles: { type: "string", default: "300" } } });
const N = Number(values.jobs);
const CYCLES = Number(values.cycles);

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

async function cycles(port: number, tube: string): Promise<number[]> {
  const w = await Wire.open(port);
  await w.cmd(`watch ${tube}\r\n`);
  const ms: number[] = [];
  for (let i = 0; i < CYCLES; i++) {
    const t0 = performance.now();
    const r = await w.cmd("reserve-with-timeout 0\r\n", 30_000);
    const id = /RESERVED (\d+)/.exec(r)?.[1];
    if (!id) throw new Error(`reserve: ${r}`);
    await w.cmd(`delete ${id}\r\n`, 30_000);
    ms.push(performance.now() - t0);
  }
  w.close();
  return ms;
}

async function front(url: string): Promise<ServerProcess> {
  return startOurs(["--store", url]);
}

// A larger max_wal_size only spares the fill a checkpoint every few hundred MB of WAL (PostgreSQL's default is 1 GB).
const cluster: Cluster = await startCluster(["-c", "max_wal_size=4GB"]);
const servers: ServerProcess[] = [];
try {
  // Reference: the same cycles on a database holding only the jobs they take.
  const small = await cluster.database();
  const s1 = await front(small);
  servers.push(s1);
  const sqlSmall = postgres(small, { max: 1, onnotice: () => {} });
  await sqlSmall`insert into beanrun_jobs (tube, state, pri, delay, ttr, created, body)
    select 'big', 1, (g % 1000), 0, 60, beanrun_now(), '\\x7b7d'::bytea from generate_series(1, ${CYCLES}) g`;
  await sqlSmall`insert into beanrun_tubes (name) values ('big') on conflict do nothing`;
  await sqlSmall.end();
  const ref = await cycles(s1.port, "big");

  const big = await cluster.database();
  const s2 = await front(big);
  servers.push(s2);
  const sql = postgres(big, { max: 1, onnotice: () => {} });
  const t0 = performance.now();
  await sql`insert into beanrun_jobs (tube, state, pri, delay, ttr, created, body)
    select 'big', 1, (g % 1000), 0, 60, beanrun_now(), '\\x7b7d'::bytea from generate_series(1, ${N}) g`;
  await sql`insert into beanrun_jobs (tube, state, pri, delay, ttr, created, bury_seq, body)
    select 'graveyard', 3, 0, 0, 60, beanrun_now(), g, '\\x7b7d'::bytea from generate_series(1, ${Math.floor(N / 10)}) g`;
  await sql`insert into beanrun_tubes (name) values ('big'), ('graveyard') on conflict do nothing`;
  await sql`vacuum analyze beanrun_jobs`;
  console.log(`filled ${N} ready + ${Math.floor(N / 10)} buried jobs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const [size] = await sql`select pg_relation_size('beanrun_jobs')::float8 as heap, pg_indexes_size('beanrun_jobs')::float8 as idx,
    pg_relation_size('beanrun_jobs_ready')::float8 as ready`;
  const mib = (b: unknown) => `${((b as number) / 2 ** 20).toFixed(0)} MiB`;
  console.log(`table ${mib(size!.heap)}, its indexes ${mib(size!.idx)} (the ready index ${mib(size!.ready)})`);

  const at = await cycles(s2.port, "big");
  const f = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms`;
  console.log(`reserve + delete, one at a time, ${CYCLES} cycles:`);
  console.log(`  empty database:      ${f(ref)}`);
  console.log(`  ${N} ready jobs: ${f(at)}   (p50 ratio ${(pct(at, 50) / pct(ref, 50)).toFixed(2)}x)`);

  const w = await Wire.open(s2.port);
  const ts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await w.cmd("stats-tube big\r\n", 120_000);
    ts.push(performance.now() - t);
  }
  w.close();
  console.log(`stats-tube on the tube of ${N} jobs (exact counts, counted at query time): p50 ${pct(ts, 50).toFixed(1)} ms`);

  // The plans of both reserve statements (statements.ts): one watched tube, and several.
  const set = `update beanrun_jobs j set state = 2, front = 0, conn = 0, reserves = j.reserves + 1,
       deadline = beanrun_now() + j.ttr::bigint * 1000`;
  const plans: [string, string, string[]][] = [
    [
      "watching big",
      `${set} from (select id from beanrun_jobs where tube = ($1::text[])[1] and state = 1
         and not exists (select 1 from beanrun_tubes t where t.name = ($1::text[])[1] and t.pause_until > beanrun_now())
         order by pri, id limit 1 for update skip locked) cand where j.id = cand.id returning j.id`,
      ["big"],
    ],
    [
      "watching big and graveyard",
      `with w as (select u.name from unnest($1::text[]) as u(name)
                where not exists (select 1 from beanrun_tubes t where t.name = u.name and t.pause_until > beanrun_now())),
     cand as (select c.id from w cross join lateral (
                select j.id, j.pri from beanrun_jobs j where j.tube = w.name and j.state = 1
                order by j.pri, j.id limit 1 for update of j skip locked) c
              order by c.pri, c.id limit 1)
     ${set} from cand where j.id = cand.id returning j.id`,
      ["big", "graveyard"],
    ],
  ];
  for (const [what, query, tubes] of plans) {
    const plan = await sql.unsafe(`explain (analyze, buffers, costs off, timing off) ${query}`, [tubes] as never[]);
    console.log(`\nplan of reserve (${what}):`);
    for (const r of plan) console.log(`  ${r["QUERY PLAN"]}`);
  }
  await sql.end();
} finally {
  for (const s of servers) await s.stop();
  await cluster.stop();
}
