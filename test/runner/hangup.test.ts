/**
 * How a stopping worker slot hangs up (WorkerConnection.end, a half-close),
 * against our server and the real beanstalkd: a blocking reserve ends at once
 * with no job (the server answers TIMED_OUT to a waiting connection's EOF and
 * closes it), and reserves the server
 * answered before it saw the FIN still reach the slot, so it can hand their
 * jobs back as reservations that did not run. Then the ledger side: those
 * reservations are discounted from the next attempt. Last, the whole path:
 * workers restarted over and over (--watch) while they drain a backlog.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../../runtime/client/index.ts";
import { AttemptLedger, attemptOf, NotRunCounts } from "../../runtime/runner/attempts.ts";
import { WorkerConnection } from "../../runtime/runner/wire.ts";
import { BEANSTALKD, type ServerProcess, startOurs, startReference } from "../support/servers.ts";
import { ev, ROOT, startRunner } from "./support.ts";

const servers: [string, () => Promise<ServerProcess>][] = [["beanrun", () => startOurs()]];
if (BEANSTALKD) servers.push(["beanstalkd", () => startReference()]);

for (const [name, start] of servers) {
  describe(`hanging up on ${name}`, () => {
    let server: ServerProcess;
    beforeAll(async () => {
      server = await start();
    });
    afterAll(() => server?.stop());

    test("a blocking reserve ends when the slot hangs up, and the server took nothing", async () => {
      const conn = await WorkerConnection.connect("127.0.0.1", server.port);
      await conn.watch("hangup-empty");
      const r = conn.reserve();
      r.catch(() => {});
      const t0 = Date.now();
      await conn.end();
      expect(Date.now() - t0).toBeLessThan(1500); // the server closed it; not end()'s own 2 s timeout
      // beanstalkd (and so beanrun) answers a waiting reserve TIMED_OUT on the client's EOF, then closes.
      await expect(r).rejects.toMatchObject({ code: expect.stringMatching(/^(TIMED_OUT|CONNECTION_CLOSED)$/) });
    });

    test("reserves answered as the slot hangs up still arrive; the jobs are back in ready with that reservation counted", async () => {
      const c = await Client.connect({ port: server.port });
      await c.use("hangup-full");
      const ids = [await c.put("a"), await c.put("b"), await c.put("c")];
      const conn = await WorkerConnection.connect("127.0.0.1", server.port);
      await Promise.all([conn.watch("hangup-full"), conn.ignore("default")]);
      const got = [conn.reserveNow(), conn.reserveNow(), conn.reserveNow()];
      await conn.end(); // the same write as the reserves: the server answers them, then sees the FIN
      expect((await Promise.all(got)).map((r) => r?.id)).toEqual(ids);
      for (const id of ids) {
        const s = await c.statsJob(id);
        expect(s.state).toBe("ready");
        expect(s.reserves).toBe(1);
      }
      c.close();
    });
  });
}

test("the ledger discounts reservations handed back, for new processes (init) and live ones (notRun messages)", () => {
  const ledger = new AttemptLedger();
  expect(ledger.reservedNotRun([7, 8])).toEqual([
    [7, 1],
    [8, 1],
  ]);
  expect(ledger.reservedNotRun([7])).toEqual([[7, 2]]);
  const fresh = new NotRunCounts();
  fresh.load(ledger.entries());
  const live = new NotRunCounts();
  live.load([[8, 1]]);
  live.load([[7, 2]]);
  // Job 7: three reservations, two of them handed back: its next run is attempt 1.
  expect(attemptOf(3, 0, fresh.of(7), 3)).toBe(1);
  expect(attemptOf(3, 0, live.of(7), 3)).toBe(1);
  expect(attemptOf(2, 0, live.of(8), 3)).toBe(1);
});

test("workers restarted every 300 ms while draining a backlog: every job runs once, and as attempt 1", async () => {
  const dir = mkdtempSync(join(tmpdir(), "beanrun-hangup-"));
  const file = join(dir, "churn.ts");
  writeFileSync(
    file,
    `import { defineJob } from ${JSON.stringify(join(ROOT, "runtime/index.ts"))};
export default defineJob({ concurrency: 4, processes: { max: 2 }, async handler() { await new Promise((r) => setTimeout(r, 40)); } });\n`,
  );
  const run = await startRunner(["--jobs", dir, "-p", "0", "--watch", "--grace", "5"]);
  try {
    const c = await run.client();
    await c.use("churn");
    const N = 400;
    for (let i = 0; i < N; i++) await c.put("{}", { ttr: 30 });
    const doneCount = () => run.events.filter((e) => e.type === "job.done").length;
    // Before the fix about one job in 40 came back as attempt 2 here: its reservation was answered as a slot hung up.
    for (const end = Date.now() + 240_000; doneCount() < N && Date.now() < end; ) {
      const t = new Date();
      utimesSync(file, t, t);
      // The next restart comes 300 ms after a job was done since this one: on a loaded machine a worker can take
      // longer than 150 ms to start, and restarts at a fixed pace then stopped every worker before it got going.
      // Not sooner than --watch's 150 ms debounce: a touch within it postpones the restart, and with workers that
      // start fast (a job done right after each restart) touches 150 ms apart restarted nothing at all.
      const progress = Math.min(N, doneCount() + 1);
      await run.waitCount((e) => e.type === "job.done", progress, Math.max(1, end - Date.now()), "a job done").catch(() => {});
      await Bun.sleep(300);
    }
    const done = run.events.filter(ev("job.done"));
    expect(new Set(done.map((e) => e.id)).size).toBe(N);
    expect(done.length).toBe(N);
    expect(done.filter((e) => e.attempt !== 1).map((e) => e.id)).toEqual([]);
    expect(run.events.filter((e) => e.type === "worker.exit" && e.reason === "restart").length).toBeGreaterThan(3);
    c.close();
  } finally {
    expect(await run.stop()).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
