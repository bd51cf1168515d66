/**
 * Serverless-style workers, counted as real processes (the runner's live
 * children, from /proc): none for a tube with nothing ready, one when work
 * arrives (a put, the end of a delay, a cron tick), more under a backlog, back
 * to none after the idle time; the global cap shared fairly; --only/--except;
 * a module that cannot load is not respawned until its file changes; under
 * --connect, a server restart is one event and not a crash.
 */
import { describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../../runtime/client/index.ts";
import { BEANSTALKD, freePort } from "../support/servers.ts";
import { BUN, ev, FIXTURES, put, ROOT, type Runner, said, startRunner, workerProcesses } from "./support.ts";

const SCALE = join(FIXTURES, "scale");
/** Worker processes serving a tube (the one spare that waits for a tube is not any tube's). */
const count = (run: Runner, tube?: string): number =>
  workerProcesses(run).filter((p) => p.tube !== null && (tube === undefined || p.tube === tube)).length;
const spares = (run: Runner): number => workerProcesses(run).filter((p) => p.tube === null).length;

/** Waits (by polling /proc, generously) until the runner has `n` worker processes of `tube`. */
async function processesBecome(run: Runner, n: number, tube?: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (count(run, tube) !== n) {
    if (Date.now() > end) throw new Error(`expected ${n} worker processes${tube ? ` of ${tube}` : ""}, have ${count(run, tube)}`);
    await Bun.sleep(50);
  }
}

describe("scale to zero and out (embedded server)", () => {
  test("no process while idle; one per tube with work; three under a backlog; none again after the idle time", async () => {
    const run = await startRunner(["--jobs", SCALE, "-p", "0", "--only", "work,quiet", "--idle", "1", "--grace", "2"]);
    try {
      expect(run.events.find(ev("runner.ready"))!.tubes).toEqual(["quiet", "work"]);
      expect(count(run)).toBe(0);
      expect(spares(run)).toBeLessThanOrEqual(1);
      const c = await run.client();

      const q = await put(c, "quiet", {});
      await run.waitFor(ev("job.done", q));
      expect(run.events.find((e) => e.type === "worker.start" && e.tube === "quiet")).toMatchObject({ reason: "work" });
      // The cold start took the spare (loaded and connected ahead of need), and its boot marks are in order.
      const boot = run.events.find((e) => e.type === "worker.ready" && e.tube === "quiet")!.boot as Record<string, number | boolean>;
      expect(boot.spare).toBe(true);
      const marks = ["process", "loaded", "assigned", "imported", "connected"].map((k) => boot[k] as number);
      expect(marks).toEqual([...marks].sort((a, b) => a - b));
      // A new spare replaces it once the cold start is over.
      for (const end = Date.now() + 15_000; spares(run) !== 1 && Date.now() < end; ) await Bun.sleep(50);
      expect(spares(run)).toBe(1);
      expect(count(run, "work")).toBe(0);
      await run.waitFor((e) => e.type === "worker.exit" && e.tube === "quiet" && e.reason === "idle", 10_000, "quiet idles out");
      await processesBecome(run, 0);

      // A backlog: 24 jobs of 300 ms. The tube grows to its max of 3 processes, then shrinks to none.
      const ids: number[] = [];
      for (let i = 0; i < 24; i++) ids.push(await put(c, "work", { ms: 300 }));
      await processesBecome(run, 3, "work");
      expect(run.events.filter((e) => e.type === "worker.start" && e.tube === "work").map((e) => e.reason)).toEqual([
        "work",
        "scale-out",
        "scale-out",
      ]);
      await run.waitCount((e) => e.type === "job.done" && ids.includes(e.id!), ids.length, 20_000, "the backlog done");
      const ran = new Set(run.events.filter((e) => e.type === "job.done" && e.tube === "work").map((e) => e.pid));
      expect(ran.size).toBe(3);
      const exits = await run.waitCount((e) => e.type === "worker.exit" && e.tube === "work", 3, 15_000, "three exits");
      expect(exits.map((e) => e.reason)).toEqual(["idle", "idle", "idle"]);
      await processesBecome(run, 0);

      // A delayed job put while no process is alive runs when its delay ends.
      const t0 = Date.now();
      const d = await put(c, "quiet", {}, { delay: 1 });
      expect(count(run)).toBe(0);
      const done = await run.waitFor(ev("job.done", d), 10_000);
      expect(done.time - t0).toBeGreaterThanOrEqual(900);
      c.close();
    } finally {
      expect(await run.stop()).toBe(0);
    }
    expect(workerProcesses(run)).toEqual([]);
  }, 60_000);

  test("cron ticks run with no worker alive between them", async () => {
    const run = await startRunner(["--jobs", SCALE, "-p", "0", "--only", "cron", "--idle", "1", "--grace", "2"]);
    try {
      const ticks = await run.waitCount(ev("schedule.tick"), 2, 15_000, "two ticks");
      for (const t of ticks) await run.waitFor(said("cron ran", t.id), 10_000, "the tick's job ran");
      // Between the ticks the worker idled out (1 s) and a new one started for the next tick.
      const reasons = run.events
        .filter((e) => e.tube === "cron" && (e.type === "worker.start" || e.type === "worker.exit"))
        .map((e) => `${e.type}:${e.reason}`);
      expect(reasons.slice(0, 3)).toEqual(["worker.start:work", "worker.exit:idle", "worker.start:work"]);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 30_000);

  test("the process cap: a tube with no process waits (with an event), and the biggest holder yields one", async () => {
    const run = await startRunner([
      "--jobs",
      SCALE,
      "-p",
      "0",
      "--only",
      "work,quiet",
      "--max-processes",
      "2",
      "--idle",
      "5",
      "--grace",
      "2",
    ]);
    try {
      const c = await run.client();
      for (let i = 0; i < 40; i++) await put(c, "work", { ms: 250 });
      await processesBecome(run, 2, "work");
      const q = await put(c, "quiet", {});
      const waiting = await run.waitFor((e) => e.type === "tube.waiting" && e.tube === "quiet", 10_000, "quiet waits");
      expect(waiting).toMatchObject({ cap: 2 });
      await run.waitFor((e) => e.type === "worker.exit" && e.tube === "work" && e.reason === "yield", 10_000, "work yields");
      await run.waitFor(ev("job.done", q), 10_000);
      await run.waitFor((e) => e.type === "tube.resumed" && e.tube === "quiet");
      expect(count(run)).toBeLessThanOrEqual(2);
      c.close();
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 60_000);
});

test("--only / --except: an unknown tube is refused at start", async () => {
  for (const flag of ["--only", "--except"]) {
    const proc = Bun.spawn([BUN, join(ROOT, "runtime/cli.ts"), "run", "--jobs", SCALE, "-p", "0", flag, "work,nope"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await proc.exited).toBe(1);
    const err = await new Response(proc.stderr as ReadableStream).text();
    expect(err).toContain(`${flag}: no job module for "nope"`);
  }
  const run = await startRunner(["--jobs", SCALE, "-p", "0", "--except", "cron,work"]);
  try {
    expect(run.events.find(ev("runner.ready"))!.tubes).toEqual(["quiet"]);
  } finally {
    expect(await run.stop()).toBe(0);
  }
}, 30_000);

test("a module that cannot load is marked failed and not respawned until its file changes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "beanrun-failed-"));
  const runtime = JSON.stringify(join(ROOT, "runtime/index.ts"));
  const good = `import { defineJob } from ${runtime};\nexport default defineJob({ handler(_p: unknown, ctx) { ctx.log.info("fixed"); } });\n`;
  cpSync(join(SCALE, "quiet.ts"), join(dir, "quiet.ts"));
  writeFileSync(join(dir, "quiet.ts"), good.replace('"fixed"', '"first"'));
  const run = await startRunner(["--jobs", dir, "-p", "0", "--idle", "1", "--grace", "1"]);
  try {
    const c = await run.client();
    // Loads at start (checked by the runner), then breaks on disk: the next worker cannot load it.
    writeFileSync(join(dir, "quiet.ts"), `throw new Error("broken on purpose");\n`);
    const id = await put(c, "quiet", {});
    const failed = await run.waitFor(ev("module.failed"), 10_000, "module.failed");
    expect(failed).toMatchObject({ tube: "quiet" });
    expect((failed.error as { message: string }).message).toContain("broken on purpose");
    await run.waitFor((e) => e.type === "worker.exit" && e.reason === "load-failed");
    // More work: no new process while the file is unchanged.
    await put(c, "quiet", {});
    await Bun.sleep(1500);
    expect(run.events.filter((e) => e.type === "worker.start").length).toBe(1);
    expect(count(run)).toBe(0);
    // Fixed: the next look (work keeps arriving) starts a worker that runs the waiting jobs.
    writeFileSync(join(dir, "quiet.ts"), good);
    await put(c, "quiet", {});
    await run.waitFor(said("fixed", id), 10_000, "the first job ran once fixed");
    c.close();
  } finally {
    expect(await run.stop()).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }
}, 40_000);

const withBeanstalkd = BEANSTALKD ? describe : describe.skip;

withBeanstalkd("--connect", () => {
  /** beanstalkd on `port`, waited for. */
  async function beanstalkd(port: number): Promise<Bun.Subprocess> {
    const proc = Bun.spawn([BEANSTALKD!, "-l", "127.0.0.1", "-p", String(port)], { stdout: "ignore", stderr: "ignore" });
    const end = Date.now() + 10_000;
    for (;;) {
      try {
        (await Client.connect({ port })).close();
        return proc;
      } catch (e) {
        if (Date.now() > end) throw e;
        await Bun.sleep(20);
      }
    }
  }

  test("workers start from the poll; a server restart is one 'server gone' event, no crash, and work resumes", async () => {
    const port = await freePort();
    let bs = await beanstalkd(port);
    const run = await startRunner(
      ["--jobs", SCALE, "--only", "quiet,work", "--connect", `127.0.0.1:${port}`, "--idle", "30", "--grace", "1"],
      { connectPort: port },
    );
    try {
      expect(count(run)).toBe(0);
      let c = await Client.connect({ port });
      const a = await put(c, "quiet", {});
      await run.waitFor(ev("job.done", a), 10_000);
      expect(count(run, "quiet")).toBe(1);
      c.close();

      bs.kill("SIGKILL");
      await bs.exited;
      const gone = await run.waitFor(ev("server.gone"), 10_000, "server.gone");
      expect(gone).toMatchObject({ server: `127.0.0.1:${port}` });
      await run.waitFor((e) => e.type === "worker.exit" && e.tube === "quiet", 10_000, "the worker's exit");
      await Bun.sleep(1000); // a few failed reconnects
      bs = await beanstalkd(port);
      await run.waitFor(ev("server.back"), 15_000, "server.back");

      c = await Client.connect({ port });
      const b = await put(c, "quiet", {});
      await run.waitFor(ev("job.done", b), 10_000);
      c.close();
      expect(run.events.filter(ev("server.gone")).length).toBe(1);
      expect(run.events.filter((e) => e.type === "worker.exit").map((e) => e.reason)).toEqual(["server-gone"]);
    } finally {
      expect(await run.stop()).toBe(0);
      bs.kill("SIGKILL");
    }
  }, 60_000);
});
