/** The operator's HTTP endpoints against a live server. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as net from "node:net";
import { startServer, type RunningServer } from "../runtime/server/index.ts";

let server: RunningServer;
let base = "";

beforeAll(async () => {
  server = await startServer({ port: 0, httpPort: 0 });
  base = `http://127.0.0.1:${server.httpPort}`;
});
afterAll(() => server.close());

function send(input: string): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(server.port, "127.0.0.1", () => s.end(input));
    s.on("data", () => {});
    s.on("close", () => resolve());
  });
}

test("metrics, JSON stats and the dashboard reflect the queue", async () => {
  await send("use mail\r\nput 0 0 10 2\r\nhi\r\nput 5000 30 10 2\r\nho\r\n");
  const metrics = await (await fetch(`${base}/metrics`)).text();
  expect(metrics).toContain('beanrun_tube_jobs{tube="mail",state="ready"} 1');
  expect(metrics).toContain('beanrun_tube_jobs{tube="mail",state="delayed"} 1');
  expect(metrics).toContain('beanrun_commands_total{command="put"} 2');
  expect(metrics).toContain("# TYPE beanrun_jobs_created_total counter");

  const stats = (await (await fetch(`${base}/stats.json`)).json()) as { jobs: { ready: number; urgent: number } };
  expect(stats.jobs.ready).toBe(1);
  expect(stats.jobs.urgent).toBe(1);

  const page = await fetch(`${base}/`);
  expect(page.headers.get("content-type")).toContain("text/html");
  expect(await page.text()).toContain("stats.json");
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  expect((await fetch(`${base}/nope`)).status).toBe(404);
  expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
});
