/**
 * /metrics read by the reference Prometheus text parser (Debian's
 * python3-prometheus-client; .ci/run installs it): every family parses, no
 * two families share a name, counters and the histogram have the shapes
 * Prometheus expects, with job outcomes fed in as the runner would.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { prometheus } from "../runtime/http/metrics.ts";
import type { Snapshot } from "../runtime/http/snapshot.ts";
import { type RunningServer, startServer } from "../runtime/server/index.ts";

const PARSE = `
import sys, json
from prometheus_client.parser import text_string_to_metric_families
fams = list(text_string_to_metric_families(sys.stdin.read()))
print(json.dumps([{"name": f.name, "type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]} for f in fams]))
`;
const havePython = spawnSync("/usr/bin/python3", ["-c", "import prometheus_client"]).status === 0;
if (!havePython) console.warn("metrics parser test skipped: apt-get install python3-prometheus-client");

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ port: 0, httpPort: 0 });
});
afterAll(() => server.close());

interface Family {
  name: string;
  type: string;
  samples: [string, Record<string, string>, number][];
}

test.skipIf(!havePython)("the exposition parses with prometheus_client and has no clashing families", async () => {
  const o = server.console!.outcomes;
  o.record({ at: Date.now(), id: 1, tube: 'we"ird\\tube', attempt: 1, outcome: "done", ms: 12 });
  o.record({ at: Date.now(), id: 2, tube: "mail", attempt: 1, outcome: "retried", ms: 700, error: { message: "boom" } });
  o.record({ at: Date.now(), id: 2, tube: "mail", attempt: 2, outcome: "buried", ms: 3000, error: { message: "boom" } });
  o.workerRestarted("mail");
  o.scheduleTicked("mail", false);
  o.scheduleTicked("mail", true);
  const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
  const r = spawnSync("/usr/bin/python3", ["-c", PARSE], { input: text, encoding: "utf8" });
  expect(r.stderr).toBe("");
  const fams = JSON.parse(r.stdout) as Family[];
  const names = fams.map((f) => f.name);
  expect(new Set(names).size).toBe(names.length);
  const fam = (n: string) => fams.find((f) => f.name === n)!;
  expect(fam("beanrun_build_info").samples[0]![1]).toMatchObject({ protocol: "1.13" });
  expect(fam("beanrun_connections_open").type).toBe("gauge");
  expect(fam("beanrun_connections").type).toBe("counter");
  const val = (n: string, sample: string, labels: Record<string, string>) =>
    fam(n).samples.find(([s, l]) => s === sample && Object.entries(labels).every(([k, v]) => l[k] === v))?.[2];
  expect(val("beanrun_jobs_done", "beanrun_jobs_done_total", { tube: 'we"ird\\tube' })).toBe(1);
  expect(val("beanrun_jobs_failed", "beanrun_jobs_failed_total", { tube: "mail" })).toBe(2);
  expect(val("beanrun_jobs_retried", "beanrun_jobs_retried_total", { tube: "mail" })).toBe(1);
  expect(val("beanrun_jobs_buried", "beanrun_jobs_buried_total", { tube: "mail" })).toBe(1);
  expect(val("beanrun_worker_restarts", "beanrun_worker_restarts_total", { tube: "mail" })).toBe(1);
  expect(val("beanrun_schedule_ticks", "beanrun_schedule_ticks_total", { tube: "mail" })).toBe(1);
  expect(val("beanrun_schedule_misses", "beanrun_schedule_misses_total", { tube: "mail" })).toBe(1);
  const h = fam("beanrun_job_duration_seconds");
  expect(h.type).toBe("histogram");
  expect(val("beanrun_job_duration_seconds", "beanrun_job_duration_seconds_bucket", { tube: "mail", le: "1" })).toBe(1);
  expect(val("beanrun_job_duration_seconds", "beanrun_job_duration_seconds_bucket", { tube: "mail", le: "+Inf" })).toBe(2);
  expect(val("beanrun_job_duration_seconds", "beanrun_job_duration_seconds_count", { tube: "mail" })).toBe(2);
});

test.skipIf(!havePython)("a PostgreSQL front end's store section parses too: counters, gauges and the commit histogram", async () => {
  const snap = (await (await fetch(`http://127.0.0.1:${server.httpPort}/stats.json`)).json()) as Snapshot;
  snap.store = {
    transactions: 3,
    commands: 7,
    commitBuckets: [0, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3],
    commitSum: 0.021,
    failures: { connection: 1, statement: 2 },
    retries: 1,
    lanes: 8,
    lanesBusy: 1,
  };
  const r = spawnSync("/usr/bin/python3", ["-c", PARSE], {
    input: prometheus(snap, { version: "t", protocol: "1.13", runtime: "bun" }),
    encoding: "utf8",
  });
  expect(r.stderr).toBe("");
  const fams = JSON.parse(r.stdout) as Family[];
  const names = fams.map((f) => f.name);
  expect(new Set(names).size).toBe(names.length);
  const fam = (n: string) => fams.find((f) => f.name === n)!;
  expect(fam("beanrun_store_transactions").type).toBe("counter");
  expect(fam("beanrun_store_failures").samples.map(([, l, v]) => [l.cause, v])).toEqual([
    ["connection", 1],
    ["statement", 2],
  ]);
  expect(fam("beanrun_store_lanes_busy").type).toBe("gauge");
  const h = fam("beanrun_store_commit_seconds");
  expect(h.type).toBe("histogram");
  expect(h.samples.find(([n, l]) => n === "beanrun_store_commit_seconds_bucket" && l.le === "0.01")?.[2]).toBe(2);
  expect(h.samples.find(([n]) => n === "beanrun_store_commit_seconds_count")?.[2]).toBe(3);
});
