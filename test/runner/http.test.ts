/**
 * `run --connect ... --http`: a runner with no server of its own (a worker
 * pod) serves /healthz (liveness), /readyz (readiness: it reaches the server,
 * every module loads) and /metrics (its worker processes and job outcomes,
 * per tube), with the console's Host check on /metrics. Real processes: our
 * server, killed and started again on its port; the runner as a subprocess.
 * The embedded server's console (`run --http`) serves the same /readyz.
 */
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { createGuard } from "../../runtime/http/guard.ts";
import { freePort, type ServerProcess, startOurs } from "../support/servers.ts";
import { ev, FIXTURES, put, type Runner, startRunner } from "./support.ts";

const PARSE = `
import sys, json
from prometheus_client.parser import text_string_to_metric_families
print(json.dumps([[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]))
`;
const havePython = spawnSync("/usr/bin/python3", ["-c", "import prometheus_client"]).status === 0;

type Sample = [string, Record<string, string>, number];

/** The exposition's samples, read by the reference parser when it is installed (else by a line match). */
function samples(text: string): Sample[] {
  if (havePython) {
    const r = spawnSync("/usr/bin/python3", ["-c", PARSE], { input: text, encoding: "utf8" });
    expect(r.stderr).toBe("");
    return JSON.parse(r.stdout) as Sample[];
  }
  return text
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(l)!;
      const labels = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
      return [m[1]!, labels, Number(m[3])];
    });
}

const value = (s: Sample[], name: string, labels: Record<string, string> = {}): number | undefined =>
  s.find(([n, l]) => n === name && Object.entries(labels).every(([k, v]) => l[k] === v))?.[2];

/** The runner's HTTP address, from its start-up line. */
function httpBase(run: Runner): string {
  const line = run.other.find((l) => l.includes('"event":"http"'));
  if (!line) throw new Error(`no http line; stderr: ${run.stderr()}`);
  return String((JSON.parse(line) as { url: string }).url);
}

async function until<T>(what: string, fn: () => Promise<T | null>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

test("run --connect --http: liveness, readiness that follows the server, and per-tube metrics behind the Host check", async () => {
  const port = await freePort();
  let server: ServerProcess = await startOurs(["-p", String(port)]);
  const run = await startRunner(
    [
      "--jobs",
      join(FIXTURES, "basic"),
      "--only",
      "ok,fail",
      "--connect",
      `127.0.0.1:${port}`,
      "--http",
      "0",
      "--idle",
      "30",
      "--grace",
      "1",
    ],
    { connectPort: port, env: { BEANRUN_HTTP_ALLOW_HOST: "worker.internal, 10.1.2.3" } },
  );
  try {
    const base = httpBase(run);
    expect(base).toStartWith("http://127.0.0.1:");
    const get = (path: string, host?: string) => fetch(`${base}${path}`, host ? { headers: { host } } : undefined);
    const status = async (path: string) => {
      const r = await get(path);
      return { code: r.status, text: await r.text() };
    };
    expect(await status("/healthz")).toEqual({ code: 200, text: "ok\n" });
    await until("ready", async () => ((await status("/readyz")).code === 200 ? true : null));
    expect((await status("/readyz")).text).toBe("ready\n");

    const c = await run.client();
    const ok = await put(c, "ok", { n: 1 });
    const bad = await put(c, "fail", {});
    await run.waitFor(ev("job.done", ok), 15_000);
    await run.waitFor(ev("job.retry", bad), 15_000);
    c.close();

    const m = samples(await (await get("/metrics")).text());
    expect(value(m, "beanrun_runner_connected")).toBe(1);
    expect(value(m, "beanrun_jobs_done_total", { tube: "ok" })).toBe(1);
    // The failing job is retried again after 1 s, so a slow scrape may already count a second retry:
    // at least the one awaited, and never more than the runner reported by the time the scrape was read.
    const retried = value(m, "beanrun_jobs_retried_total", { tube: "fail" });
    expect(retried).toBeGreaterThanOrEqual(1);
    expect(retried).toBeLessThanOrEqual(run.events.filter(ev("job.retry", bad)).length);
    expect(value(m, "beanrun_job_duration_seconds_count", { tube: "ok" })).toBe(1);
    expect(value(m, "beanrun_worker_processes", { tube: "ok" })).toBe(1);
    expect(value(m, "beanrun_worker_starts_total", { tube: "ok" })).toBe(1);
    expect(value(m, "beanrun_module_failed", { tube: "ok" })).toBe(0);
    expect(m.find(([n]) => n === "beanrun_build_info")?.[1]).toMatchObject({ runtime: expect.stringMatching(/^bun /) });

    // The console's Host check: loopback names, the bound address and the names allowed ($BEANRUN_HTTP_ALLOW_HOST) pass.
    expect((await get("/metrics", "evil.example")).status).toBe(421);
    expect((await get("/metrics", "worker.internal:9090")).status).toBe(200);
    expect((await get("/metrics", "10.1.2.3:9090")).status).toBe(200);
    expect((await get("/healthz", "evil.example")).status).toBe(200);
    expect((await get("/readyz", "10.9.9.9:9090")).status).toBe(200);
    expect((await get("/")).status).toBe(404);

    // The server goes away: not ready (and not connected), but alive; back when the server is.
    await server.kill();
    await run.waitFor(ev("server.gone"), 15_000, "server.gone");
    const down = await until("not ready", async () => {
      const s = await status("/readyz");
      return s.code === 503 ? s.text : null;
    });
    expect(down).toContain("not connected to the server");
    expect((await status("/healthz")).code).toBe(200);
    expect(value(samples(await (await get("/metrics")).text()), "beanrun_runner_connected")).toBe(0);
    server = await startOurs(["-p", String(port)]);
    await run.waitFor(ev("server.back"), 20_000, "server.back");
    await until("ready again", async () => ((await status("/readyz")).code === 200 ? true : null));
  } finally {
    expect(await run.stop()).toBe(0);
    await server.stop();
  }
}, 90_000);

test("run's embedded console serves /readyz too: ready, exempt from the Host check, and 503 while draining", async () => {
  const run = await startRunner(["--jobs", join(FIXTURES, "basic"), "--only", "ok", "-p", "0", "--http", "0", "--grace", "1"]);
  try {
    const line = run.other.find((l) => l.includes('"event":"console"'));
    const base = /(http:\/\/[^/\s"]+)\//.exec(line ?? "")?.[1];
    if (!base) throw new Error(`no console line; stderr: ${run.stderr()}`);
    const readyz = async (host?: string) => {
      const r = await fetch(`${base}/readyz`, host ? { headers: { host } } : undefined);
      return { code: r.status, text: await r.text() };
    };
    expect(await readyz()).toEqual({ code: 200, text: "ready\n" });
    expect((await readyz("10.9.9.9:8080")).code).toBe(200);
    expect((await fetch(`${base}/metrics`, { headers: { host: "10.9.9.9:8080" } })).status).toBe(421);
    process.kill(run.pid, "SIGUSR1");
    const down = await until("not ready", async () => {
      const s = await readyz();
      return s.code === 503 ? s.text : null;
    });
    expect(down).toContain("draining");
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  } finally {
    expect(await run.stop()).toBe(0);
  }
}, 60_000);

test("with --connect, --http is the runner's own; the server's other flags are still refused", () => {
  const root = join(import.meta.dir, "../..");
  const r = spawnSync(process.execPath, [join(root, "runtime/cli.ts"), "run", "--connect", "127.0.0.1:1", "--http", "0", "-b", "/tmp/x"], {
    encoding: "utf8",
  });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain("server flags make no sense with --connect");
});

test("an allowed IPv4 or bare IPv6 address (a pod's IP) matches the Host header that names it", () => {
  const g = createGuard({ bindHost: "0.0.0.0", allowedHosts: ["10.1.2.3", "FD00::7", "worker.internal:8080"] });
  const problem = (host: string) => g.hostProblem(new Request("http://x/metrics", { headers: { host } }));
  for (const ok of ["10.1.2.3:8080", "[fd00::7]:8080", "[FD00::7]", "worker.internal", "localhost:1"]) expect(problem(ok), ok).toBeNull();
  for (const bad of ["10.1.2.4:8080", "[fd00::8]:8080", "fd00", "evil.example"]) expect(problem(bad), bad).not.toBeNull();
});
