/**
 * The PostgreSQL store's start-up: migrations applied exactly once when
 * several front ends start at the same moment, `beanrun migrate`, a schema
 * newer than the binary refused, an unreachable database reported with its
 * host and the reason.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import postgres from "postgres";
import { migrate, SCHEMA_VERSION } from "../../runtime/store/postgres/migrations.ts";
import { BUN, freePort, ROOT, type ServerProcess, startOurs } from "../support/servers.ts";
import { Wire } from "../support/wire.ts";
import { POSTGRES } from "./cluster.ts";
import { fileCluster } from "./file-cluster.ts";

const pg = fileCluster();

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn([BUN, join(ROOT, "runtime/cli.ts"), ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

describe.skipIf(!POSTGRES)("PostgreSQL store start-up", () => {
  test("eight concurrent migrations apply each version exactly once", async () => {
    const url = await pg.cluster.database();
    const clients = Array.from({ length: 8 }, () => postgres(url, { max: 1, onnotice: () => {} }));
    try {
      const results = await Promise.all(clients.map((c) => migrate(c)));
      expect(results.filter((r) => r.applied.length > 0).length).toBe(1);
      const rows = await clients[0]!`select version from beanrun_schema order by version`;
      expect(rows.map((r) => r.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  }, 60_000);

  test("three front ends starting at once on a fresh database all serve it", async () => {
    const url = await pg.cluster.database();
    const fronts: ServerProcess[] = await Promise.all([0, 1, 2].map(() => startOurs(["--store", url])));
    try {
      const w = await Wire.open(fronts[0]!.port);
      const r = await w.cmd("put 0 0 60 2\r\nhi\r\n");
      expect(r).toMatch(/^INSERTED \d+\r\n$/);
      const v = await Wire.open(fronts[2]!.port);
      expect(await v.cmd("reserve-with-timeout 10\r\n", 15_000)).toMatch(/^RESERVED \d+ 2\r\nhi\r\n$/);
      w.close();
      v.close();
    } finally {
      await Promise.all(fronts.map((f) => f.stop()));
    }
  }, 60_000);

  test("beanrun migrate, --check, and a schema newer than the binary", async () => {
    const url = await pg.cluster.database();
    expect((await cli(["migrate", "--check", "--store", url])).code).toBe(1);
    const m = await cli(["migrate", "--store", url]);
    expect(m.code).toBe(0);
    expect(m.out).toContain(`to ${SCHEMA_VERSION}`);
    expect((await cli(["migrate", "--store", url])).out).toContain("nothing to do");
    expect((await cli(["migrate", "--check", "--store", url])).code).toBe(0);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await sql`insert into beanrun_schema (version, name) values (${SCHEMA_VERSION + 1}, 'from the future')`;
    await sql.end();
    const s = await cli(["serve", "-p", "0", "--store", url]);
    expect(s.code).toBe(1);
    expect(s.err).toContain(`schema is version ${SCHEMA_VERSION + 1}, newer than this beanrun knows (${SCHEMA_VERSION})`);
    expect((await cli(["migrate", "--check", "--store", url])).code).toBe(3);
  }, 60_000);

  test("an unreachable database: a clear error naming the host and the reason", async () => {
    const port = await freePort();
    const s = await cli(["serve", "-p", "0", "--store", `postgres://postgres@127.0.0.1:${port}/db`]);
    expect(s.code).toBe(1);
    expect(s.err).toContain(`cannot reach PostgreSQL at 127.0.0.1:${port}/db`);
    expect(s.err).toContain("ECONNREFUSED");
    const bad = await cli(["serve", "--store", "mysql://x"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--store: expected postgres://");
  }, 60_000);
});
