/**
 * Driver comparison for the PostgreSQL store: `postgres` (npm, porsager) against
 * Bun's built-in SQL, on the same database, side by side in one run. Measures
 * what the store does: sequential round trips (one front end's lone client),
 * many concurrent queries (pipelining across connections of one front end), and
 * a transaction of several statements (one group commit).
 *
 *   bun bench/postgres/driver.ts postgres://postgres@127.0.0.1:PORT/postgres
 *   deno run -A bench/postgres/driver.ts URL        # `postgres` only: Deno has no Bun.SQL
 */
import postgres from "postgres";

type Query = (text: string, params: unknown[]) => Promise<unknown>;
type Tx = (fn: (q: Query) => Promise<void>) => Promise<void>;
interface Driver {
  name: string;
  query: Query;
  tx: Tx;
  close(): Promise<void>;
}

const url = process.argv[2] ?? process.env.DATABASE_URL;
if (!url) throw new Error("usage: driver.ts postgres://...");

function porsager(): Driver {
  const sql = postgres(url!, { max: 4, prepare: true, onnotice: () => {} });
  return {
    name: "postgres (npm)",
    query: (t, p) => sql.unsafe(t, p as never[], { prepare: true }),
    tx: async (fn) => {
      await sql.begin((s) => fn((t, p) => s.unsafe(t, p as never[], { prepare: true })));
    },
    close: () => sql.end(),
  };
}

function bunSql(): Driver | undefined {
  type BunSql = {
    unsafe(t: string, p?: unknown[]): Promise<unknown>;
    begin(fn: (s: BunSql) => Promise<unknown>): Promise<unknown>;
    close(): Promise<void>;
  };
  const B = (globalThis as { Bun?: { SQL: new (u: string, o: object) => BunSql } }).Bun;
  if (!B) return undefined;
  const sql = new B.SQL(url!, { max: 4, prepare: true });
  return {
    name: "Bun.SQL",
    query: (t, p) => sql.unsafe(t, p),
    tx: async (fn) => {
      await sql.begin((s: BunSql) => fn((t, p) => s.unsafe(t, p)));
    },
    close: () => sql.close(),
  };
}

async function timed(label: string, n: number, fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  const rate = (n / ms) * 1000;
  console.log(`  ${label.padEnd(38)} ${rate.toFixed(0).padStart(8)} /s`);
  return rate;
}

async function measure(d: Driver): Promise<number[]> {
  console.log(d.name);
  await d.query("create table if not exists driver_bench (id bigserial primary key, body bytea)", []);
  const body = new Uint8Array(100);
  const N = 3000;
  const r: number[] = [];
  r.push(
    await timed("sequential select $1", N, async () => {
      for (let i = 0; i < N; i++) await d.query("select $1::int as x", [i]);
    }),
  );
  r.push(
    await timed("64 concurrent inserts (autocommit)", N, async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (next++ < N) await d.query("insert into driver_bench (body) values ($1)", [body]);
        }),
      );
    }),
  );
  r.push(
    await timed("tx of 50 inserts (statements/s)", N, async () => {
      for (let i = 0; i < N / 50; i++)
        await d.tx(async (q) => {
          await Promise.all(Array.from({ length: 50 }, () => q("insert into driver_bench (body) values ($1)", [body])));
        });
    }),
  );
  await d.query("drop table driver_bench", []);
  await d.close();
  return r;
}

const drivers = [porsager, bunSql];
const results: Record<string, number[][]> = {};
for (let round = 0; round < 3; round++) {
  for (const make of round % 2 ? [...drivers].reverse() : drivers) {
    const d = make();
    if (!d) continue;
    (results[d.name] ??= []).push(await measure(d));
  }
}
const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log("\nmedians of 3 rounds (ops/s):");
for (const [name, rounds] of Object.entries(results)) {
  console.log(
    `  ${name.padEnd(16)} ${[0, 1, 2]
      .map((i) =>
        med(rounds.map((r) => r[i]!))
          .toFixed(0)
          .padStart(8),
      )
      .join(" ")}`,
  );
}
