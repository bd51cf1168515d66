/**
 * The job runner end to end: `beanrun run` as a real subprocess with its
 * embedded server, the fixture jobs in test/runner/fixtures/basic, and a
 * client putting jobs and reading the server's view of them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Client } from "../../runtime/client/index.ts";
import { ev, FIXTURES, invalid, put, type Runner, said, startRunner } from "./support.ts";

let run: Runner;
let c: Client;

beforeAll(async () => {
  run = await startRunner(["--jobs", join(FIXTURES, "basic"), "-p", "0", "--grace", "2"]);
  c = await run.client();
}, 20_000);

afterAll(async () => {
  c?.close();
  if (run) expect(await run.stop()).toBe(0);
});

describe("beanrun run (embedded server)", () => {
  test("handlers run and their jobs are deleted", async () => {
    const ids: number[] = [];
    for (let n = 0; n < 20; n++) ids.push(await put(c, "ok", { n }));
    await run.waitCount((l) => l.type === "job.done" && ids.includes(l.id!), 20, 10_000, "done");
    for (const id of ids) expect(await c.statsJob(id).catch((e: Error) => e.message)).toBe("stats-job: NOT_FOUND");
    const done = run.events.find(ev("job.done", ids[0]))!;
    expect(done).toMatchObject({ tube: "ok", attempt: 1 });
    expect(typeof done.ms).toBe("number");
    // The handler's own ctx.log line carries the job's tags.
    expect(run.events.find(said("handled", ids[0]))).toMatchObject({ tube: "ok", attempt: 1, fields: { n: 0 } });
  });

  test("a throwing handler is retried with growing delays, then buried", async () => {
    const id = await put(c, "fail", {});
    const buried = await run.waitFor(ev("job.buried", id), 10_000, "buried");
    const retries = run.events.filter(ev("job.retry", id));
    expect(retries.map((l) => l.delay)).toEqual([1, 2]);
    expect(retries.map((l) => l.attempt)).toEqual([1, 2]);
    expect(buried.attempt).toBe(3);
    // The server held the job between attempts. An event's time is when the runner logged it, after the release was
    // acknowledged and the event crossed IPC: under load that can be late by a good part of a second (896 ms between
    // the first two in a full suite at load 20), so only half of each delay is asserted; the delays are the fields above.
    const t = [retries[0]!, retries[1]!, buried].map((l) => l.time);
    expect(t[1]! - t[0]!).toBeGreaterThanOrEqual(500);
    expect(t[2]! - t[1]!).toBeGreaterThanOrEqual(1000);
    const st = await c.statsJob(id);
    expect(st.state).toBe("buried");
    expect(st.releases).toBe(2);
    expect(buried).toMatchObject({ reason: "failed", error: { message: "boom on attempt 3", name: "Error" } });
    expect((buried.error as { stack: string }).stack).toContain("fail.ts");

    // A kick brings the dead letter back with a fresh set of attempts.
    await c.kickJob(id);
    const again = await run.waitCount(ev("job.retry", id), 3, 5_000, "retry after kick");
    expect(again[2]!.attempt).toBe(1);
    const reburied = await run.waitCount(ev("job.buried", id), 2, 8_000, "buried again");
    expect(reburied[1]!.attempt).toBe(3);
    expect((await c.statsJob(id)).kicks).toBe(1);
  }, 30_000);

  test("payloads that are not JSON or that the schema rejects are buried at once", async () => {
    const bad = await put(c, "ok", { n: "not a number" });
    const notJson = await put(c, "ok", "{nope");
    const a = await run.waitFor(invalid(bad));
    const b = await run.waitFor(invalid(notJson));
    expect((a.error as { message: string }).message).toContain("n: ");
    expect((b.error as { message: string }).message).toContain("not JSON");
    for (const id of [bad, notJson]) {
      const st = await c.statsJob(id);
      expect(st.state).toBe("buried");
      expect(st.releases).toBe(0);
      expect(st.reserves).toBe(1);
    }
  });

  test("an endless loop is killed at its TTR while another tube keeps flowing", async () => {
    await run.waitFor(ev("job.done", await put(c, "ok", { n: 0 }))); // "ok" has a process
    const spin = await put(c, "loop", { spin: true }, { ttr: 1 });
    const ids: number[] = [];
    for (let n = 0; n < 10; n++) ids.push(await put(c, "ok", { n }));
    // The other tube's jobs are done whatever the spinning worker does (no timing asserted: the machine may be busy).
    await run.waitCount((l) => l.type === "job.done" && ids.includes(l.id!), 10, 5_000, "done");

    const killed = await run.waitFor(ev("job.timeout", spin), 5_000, "timeout");
    expect(killed).toMatchObject({ tube: "loop", attempt: 1 });
    expect(killed.ms as number).toBeGreaterThanOrEqual(800);
    // The job came back, ran (and was killed) again, then was buried: attempts are counted.
    await run.waitFor(ev("job.buried", spin), 6_000, "buried");
    expect((await c.statsJob(spin)).state).toBe("buried");
    // The fresh loop worker still runs jobs that do finish.
    const fine = await put(c, "loop", { spin: false });
    await run.waitFor(ev("job.done", fine), 5_000, "done");
  }, 15_000);

  test("a crashing worker is restarted and the job runs again", async () => {
    const id = await put(c, "crash", {});
    const crash = await run.waitFor((l) => l.type === "worker.exit" && l.reason === "crash" && l.tube === "crash");
    expect(crash.code).toBe(3);
    const done = await run.waitFor(ev("job.done", id));
    expect(done.attempt).toBe(2);
  });

  test("a deep queue is fetched in batches; jobs waiting behind a slow handler keep their reservation (TTR 1 s)", async () => {
    await c.use("batch"); // the tube exists once someone uses it (no worker watches it while it has no work)
    await c.pauseTube("batch", 60);
    const ids: number[] = [];
    const slow = new Set<number>();
    for (let n = 0; n < 450; n++) {
      const ms = n === 300 || n === 351 || n === 402 ? 1500 : 0;
      const id = await put(c, "batch", ms ? { ms } : {}, { ttr: ms ? 5 : 1 });
      ids.push(id);
      if (ms) slow.add(id);
    }
    const before = await c.stats();
    await c.pauseTube("batch", 0);
    const done = await run.waitCount((l) => l.type === "job.done" && l.tube === "batch", 450, 15_000, "done");
    // Each job ran once, on its first reservation: nothing timed out while it waited in a batch.
    expect(new Set(done.map((l) => l.id)).size).toBe(450);
    expect(done.every((l) => l.attempt === 1)).toBe(true);
    expect(run.events.some((l) => l.tube === "batch" && (l.type === "job.lost" || l.type === "job.timeout"))).toBe(false);
    const after = await c.stats();
    const tube = await c.statsTube("batch");
    expect(tube["current-jobs-ready"] + tube["current-jobs-reserved"]).toBe(0);
    expect(tube["cmd-delete"]).toBe(450);
    // Several jobs per round trip, and the ones held behind a 1.5 s handler were touched.
    expect(after["cmd-reserve-with-timeout"] - before["cmd-reserve-with-timeout"]).toBeGreaterThan(50);
    expect(after["cmd-touch"] - before["cmd-touch"]).toBeGreaterThan(0);
    expect(after["job-timeouts"] - before["job-timeouts"]).toBe(0);
  }, 20_000);

  test("a worker killed at a job's TTR: the jobs it held behind that job without starting them lose no attempt", async () => {
    await c.use("batch"); // the tube exists once someone uses it (no worker watches it while it has no work)
    await c.pauseTube("batch", 60);
    const ids: number[] = [];
    let spin = 0;
    for (let n = 0; n < 200; n++) {
      const id = await put(c, "batch", n === 150 ? { ms: 3000 } : {}, { ttr: 1 });
      if (n === 150) spin = id;
      else ids.push(id);
    }
    await c.pauseTube("batch", 0);
    await run.waitFor(ev("job.timeout", spin), 5_000, "timeout");
    const done = await run.waitCount((l) => l.type === "job.done" && ids.includes(l.id!), ids.length, 10_000, "done");
    // The jobs held in the killed worker's batch came back with a reservation counted by the server, but not as an attempt.
    expect(done.filter((l) => l.attempt !== 1)).toEqual([]);
    const buried = await run.waitFor(ev("job.buried", spin), 5_000, "buried");
    expect(buried.attempt).toBe(2);
    const held = (await Promise.all(ids.map((id) => c.statsJob(id).catch(() => null)))).filter((x) => x !== null);
    expect(held).toEqual([]); // all deleted
  }, 20_000);

  test("cron schedules enqueue at each tick (seconds-level pattern)", async () => {
    const ticks = await run.waitCount(ev("schedule.tick"), 2, 4_000, "scheduled");
    for (const t of ticks) expect(t.tube).toBe("tick");
    const tick = await run.waitFor(said("tick", ticks[1]!.id), 3_000, "tick handled");
    expect(tick.fields).toEqual({ from: "cron" });
    // One tick per scheduled second: the ticks' own times, not when a busy
    // machine got round to running them.
    const at = ticks.map((t) => t.at as number);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(1000);
    expect(at[0]! % 1000).toBe(0);
  });
});

test("a module of the wrong shape stops start-up with an error naming the file and the field", async () => {
  const proc = Bun.spawn(
    [process.execPath, join(import.meta.dir, "../../runtime/cli.ts"), "run", "--jobs", join(FIXTURES, "broken"), "-p", "0"],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  expect(await proc.exited).toBe(1);
  const err = await new Response(proc.stderr as ReadableStream).text();
  expect(err).toMatch(/bad-ttr\.ts: "ttr" must be an integer from 1 to \d+ \(got "30s"\)/);
});
