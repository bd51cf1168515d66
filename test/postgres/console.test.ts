/**
 * The console, /stats.json and /metrics of a PostgreSQL front end (`serve
 * --store ... --http PORT`): the same handler as the in-memory server's, fed
 * from the database. Two front ends on one database: jobs put through one
 * are counted, listed and acted on through the other's console, so the
 * figures shown are the cluster's, not one process's.
 */
import { describe, expect, test } from "bun:test";
import { type Server, startServer } from "../../runtime/server/index.ts";
import { Wire } from "../support/wire.ts";
import { POSTGRES } from "./cluster.ts";
import { fileCluster } from "./file-cluster.ts";

const pg = fileCluster();

async function front(url: string, http: boolean): Promise<Server> {
  const s = await startServer({ port: 0, store: url, ...(http ? { httpPort: 0 } : {}), log: () => {} });
  pg.stopAfter({ stop: () => s.close() });
  return s;
}

describe.skipIf(!POSTGRES)("console and metrics with --store", () => {
  test("counts, lists and acts on the cluster's jobs", async () => {
    const url = await pg.cluster.database();
    const a = await front(url, false);
    const b = await front(url, true);
    const base = `http://127.0.0.1:${b.httpPort}`;
    const w = await Wire.open(a.port);
    expect(await w.cmd("use web\r\n")).toBe("USING web\r\n");
    expect(await w.cmd("put 5 0 60 5\r\nhello\r\n")).toBe("INSERTED 1\r\n");
    expect(await w.cmd("put 7 0 60 5\r\nworld\r\n")).toBe("INSERTED 2\r\n");
    expect(await w.cmd("reserve-with-timeout 0\r\n")).toBe("TIMED_OUT\r\n"); // watching default only
    expect(await w.cmd("watch web\r\n")).toBe("WATCHING 2\r\n");
    expect(await w.cmd("reserve\r\n")).toBe("RESERVED 1 5\r\nhello\r\n");
    expect(await w.cmd("bury 1 5\r\n")).toBe("BURIED\r\n");

    const stats = (await (await fetch(`${base}/stats.json`)).json()) as {
      jobs: Record<string, number>;
      tubes: { name: string; ready: number; buried: number; totalJobs: number }[];
    };
    expect(stats.jobs.ready).toBe(1);
    expect(stats.jobs.buried).toBe(1);
    expect(stats.jobs.total).toBe(2);
    expect(stats.tubes.find((t) => t.name === "web")).toMatchObject({ ready: 1, buried: 1, totalJobs: 2 });

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('beanrun_tube_jobs{tube="web",state="ready"} 1');
    expect(metrics).toContain('beanrun_tube_jobs{tube="web",state="buried"} 1');
    // B's own transactions to the database (its console's reads are batched like commands).
    const num = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? NaN);
    const transactions = num(/^beanrun_store_transactions_total (\d+)$/m);
    expect(transactions).toBeGreaterThan(0);
    expect(num(/^beanrun_store_commit_seconds_bucket\{le="\+Inf"\} (\d+)$/m)).toBe(transactions);
    expect(num(/^beanrun_store_commit_seconds_count (\d+)$/m)).toBe(transactions);
    expect(num(/^beanrun_store_lanes (\d+)$/m)).toBe(8);
    expect(metrics).toContain('beanrun_store_failures_total{cause="connection"} 0');

    const page = (await (await fetch(`${base}/api/jobs?tube=web&state=ready`)).json()) as {
      total: number;
      jobs: { id: number; body: { text: string } }[];
    };
    expect(page.total).toBe(1);
    expect(page.jobs[0]).toMatchObject({ id: 2, body: { text: "world" } });
    const job = (await (await fetch(`${base}/api/job?id=1`)).json()) as { job: { state: string; buries: number } };
    expect(job.job).toMatchObject({ state: "buried", buries: 1 });
    expect((await fetch(`${base}/api/jobs?tube=nothing-here&state=ready`)).status).toBe(404);

    // An action through B's console, on a job A buried.
    const csrf = /name="beanrun-csrf" content="([0-9a-f]+)"/.exec(await (await fetch(`${base}/`)).text())![1]!;
    const kicked = await fetch(`${base}/api/action`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base, "x-beanrun-csrf": csrf },
      body: JSON.stringify({ action: "kick-job", id: 1 }),
    });
    expect(((await kicked.json()) as { ok: boolean }).ok).toBe(true);
    expect(await w.cmd("stats-job 1\r\n")).toMatch(/\nstate: ready\n/);
    w.close();
  }, 60_000);
});
