/** The operator's HTTP endpoints against a live server: pages, JSON API, actions, and the guard around them. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type RunningServer, startServer } from "../runtime/server/index.ts";
import { Wire } from "./support/wire.ts";

let server: RunningServer;
let base = "";

beforeAll(async () => {
  server = await startServer({ port: 0, httpPort: 0, maxJobSize: 1 << 20 });
  base = `http://127.0.0.1:${server.httpPort}`;
});
afterAll(() => server.close());

/** Sends `input`, half-closes, and returns every reply once the server has closed. */
const send = (input: string): Promise<string> => Wire.exchange(server.port, input);

const csrf = async (b = base): Promise<string> =>
  /name="beanrun-csrf" content="([0-9a-f]+)"/.exec(await (await fetch(`${b}/`)).text())![1]!;

async function action(body: unknown, headers: Record<string, string> = {}, b = base): Promise<Response> {
  return fetch(`${b}/api/action`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: b, "x-beanrun-csrf": await csrf(b), ...headers },
    body: JSON.stringify(body),
  });
}

test("metrics, JSON stats and the console page reflect the queue", async () => {
  await send("use mail\r\nput 0 0 10 2\r\nhi\r\nput 5000 30 10 2\r\nho\r\n");
  const metrics = await (await fetch(`${base}/metrics`)).text();
  expect(metrics).toContain('beanrun_tube_jobs{tube="mail",state="ready"} 1');
  expect(metrics).toContain('beanrun_tube_jobs{tube="mail",state="delayed"} 1');
  expect(metrics).toContain('beanrun_commands_total{command="put"} 2');
  expect(metrics).toContain("# TYPE beanrun_jobs_created_total counter");
  expect(metrics).toMatch(/^beanrun_build_info\{version="[^"]+",protocol="1.13",runtime="[^"]+"\} 1$/m);

  const stats = (await (await fetch(`${base}/stats.json`)).json()) as { jobs: { ready: number; urgent: number } };
  expect(stats.jobs.ready).toBe(1);
  expect(stats.jobs.urgent).toBe(1);

  const page = await fetch(`${base}/`);
  expect(page.headers.get("content-type")).toContain("text/html");
  expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
  const html = await page.text();
  expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/); // no network fetches: nothing but the SVG namespace
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  expect((await fetch(`${base}/nope`)).status).toBe(404);
  expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
});

test("the job API pages a tube's jobs by state, with bodies shown safely", async () => {
  const big = "x".repeat(70_000);
  await send(`use pages\r\nput 1 0 10 13\r\n{"a":[1,2,3]}\r\nput 2 0 10 4\r\n\xff\xfe\x00a\r\nput 3 0 10 ${big.length}\r\n${big}\r\n`);
  const page = (await (await fetch(`${base}/api/jobs?tube=pages&state=ready&limit=2`)).json()) as {
    total: number;
    jobs: { id: number; pri: number; body: { kind: string; text: string; truncated: boolean } }[];
  };
  expect(page.total).toBe(3);
  expect(page.jobs.map((j) => j.pri)).toEqual([1, 2]);
  expect(page.jobs[0]!.body).toMatchObject({ kind: "json", text: '{\n  "a": [\n    1,\n    2,\n    3\n  ]\n}' });
  expect(page.jobs[1]!.body).toMatchObject({ kind: "binary", text: "\\xff\\xfe\\x00a" });
  const rest = (await (await fetch(`${base}/api/jobs?tube=pages&state=ready&offset=2`)).json()) as typeof page;
  expect(rest.jobs[0]!.body.truncated).toBe(true);
  expect(rest.jobs[0]!.body.text.length).toBe(4096);
  const whole = (await (await fetch(`${base}/api/job?id=${rest.jobs[0]!.id}`)).json()) as { job: { body: { text: string; size: number } } };
  expect(whole.job.body.text.length).toBe(64 * 1024);
  expect(whole.job.body.size).toBe(70_000);
  const one = (await (await fetch(`${base}/api/job?id=${page.jobs[0]!.id}`)).json()) as { job: { tube: string; state: string } };
  expect(one.job).toMatchObject({ tube: "pages", state: "ready" });
  expect((await fetch(`${base}/api/job?id=999999`)).status).toBe(404);
  expect((await fetch(`${base}/api/jobs?tube=nope&state=ready`)).status).toBe(404);
  expect((await fetch(`${base}/api/jobs?tube=pages&state=weird`)).status).toBe(400);
});

test("actions: put, kick, delete, pause, delete-buried with confirmation, on a tube named with every allowed character", async () => {
  const tube = "a-+/;.$_()Z9";
  let r = await action({ action: "put", tube, body: '{"n":1}', priority: 5 });
  expect(r.status).toBe(200);
  const { id } = (await r.json()) as { id: number };
  const buried = await send(`watch ${tube}\r\nreserve-with-timeout 0\r\nbury ${id} 5\r\n`);
  expect(buried).toContain(`RESERVED ${id} 7\r\n{"n":1}\r\nBURIED`);
  const list = (await (await fetch(`${base}/api/jobs?tube=${encodeURIComponent(tube)}&state=buried`)).json()) as { jobs: { id: number }[] };
  expect(list.jobs.map((j) => j.id)).toEqual([id]);

  r = await action({ action: "kick-job", id });
  expect(await r.json()).toMatchObject({ ok: true, message: `job ${id} kicked` });
  r = await action({ action: "kick-job", id });
  expect(r.status).toBe(409);
  expect(((await r.json()) as { message: string }).message).toContain("is ready");

  r = await action({ action: "pause", tube, seconds: 100 });
  expect(await r.json()).toMatchObject({ ok: true });
  expect(await send(`stats-tube ${tube}\r\n`)).toContain("pause: 100");
  await action({ action: "pause", tube, seconds: 0 });

  await send(`watch ${tube}\r\nreserve-with-timeout 0\r\nbury ${id} 5\r\n`);
  r = await action({ action: "delete-buried", tube, confirm: "wrong" });
  expect(await r.json()).toMatchObject({ ok: false });
  r = await action({ action: "delete-buried", tube, confirm: tube });
  expect(await r.json()).toMatchObject({ ok: true, count: 1 });
  r = await action({ action: "delete", id });
  expect(((await r.json()) as { message: string }).message).toContain("no longer exists");
  expect((await action({ action: "put", tube: "-bad", body: "x" })).status).toBe(400);
});

test("deleting a job a worker holds says so instead of failing", async () => {
  const worker = await Wire.open(server.port);
  const r0 = await action({ action: "put", tube: "race", body: "{}" });
  const { id } = (await r0.json()) as { id: number };
  worker.send("watch race\r\nreserve\r\n");
  await worker.until((s) => s.includes("RESERVED"));
  const r = await action({ action: "delete", id });
  expect(r.status).toBe(409);
  expect(((await r.json()) as { message: string }).message).toContain("reserved by a worker right now");
  worker.close();
});

describe("the guard", () => {
  test("a foreign Host header is refused (DNS rebinding), loopback names are not", async () => {
    const res = await fetch(`${base}/api/overview`, { headers: { host: "evil.example:8080" } });
    expect(res.status).toBe(421);
    expect((await fetch(`${base}/api/overview`, { headers: { host: `localhost:${server.httpPort}` } })).status).toBe(200);
    expect((await fetch(`${base}/healthz`, { headers: { host: "evil.example" } })).status).toBe(200);
  });

  test("mutations need POST, JSON, same origin and the CSRF token", async () => {
    const body = { action: "pause", tube: "default", seconds: 0 };
    expect((await action(body, { origin: "http://evil.example" })).status).toBe(403);
    expect((await action(body, { "x-beanrun-csrf": "0000" })).status).toBe(403);
    expect((await action(body, { "content-type": "text/plain" })).status).toBe(415);
    const noOrigin = await fetch(`${base}/api/action`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(noOrigin.status).toBe(403);
    expect((await fetch(`${base}/api/action`)).status).toBe(404);
  });

  test("--http PORT stays on loopback whatever -l says; off loopback, actions and bodies need the token", async () => {
    const wide = await startServer({ host: "0.0.0.0", port: 0, httpPort: 0 });
    try {
      expect(wide.httpHost).toBe("127.0.0.1");
    } finally {
      await wide.close();
    }
    // Bound off loopback (the wildcard address), reached as a configured name.
    for (const token of [undefined, "s3cret"]) {
      const s = await startServer({ port: 0, httpPort: 0, httpHost: "0.0.0.0", httpAllowHosts: ["queue.internal"], httpToken: token });
      const b = `http://127.0.0.1:${s.httpPort}`;
      try {
        const host = { host: "queue.internal" };
        const refused = await action({ action: "pause", tube: "default", seconds: 0 }, { ...host, origin: "http://queue.internal" }, b);
        expect(refused.status).toBe(401);
        const jobs = (await (await fetch(`${b}/api/overview`, { headers: host })).json()) as { access: { bodies: boolean } };
        expect(jobs.access.bodies).toBe(false);
        if (token) {
          const ok = await action(
            { action: "pause", tube: "default", seconds: 0 },
            { ...host, origin: "http://queue.internal", authorization: `Bearer ${token}` },
            b,
          );
          expect(ok.status).toBe(200);
          const wrong = await action(
            { action: "pause", tube: "default", seconds: 0 },
            { ...host, origin: "http://queue.internal", authorization: "Bearer nope" },
            b,
          );
          expect(wrong.status).toBe(401);
        }
        expect((await fetch(`${b}/api/overview`, { headers: { host: "other.name" } })).status).toBe(421);
      } finally {
        await s.close();
      }
    }
  });
});
