/**
 * The runner against the real beanstalkd (--connect), graceful shutdown
 * (nothing lost, nothing run twice), --watch, and the compiled executable
 * run from a directory with no node_modules.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../../runtime/client/index.ts";
import { BEANSTALKD, type ServerProcess, startReference } from "../support/servers.ts";
import { ev, FIXTURES, invalid, put, ROOT, said, startRunner } from "./support.ts";

const withBeanstalkd = BEANSTALKD ? describe : describe.skip;
if (!BEANSTALKD) console.warn("beanstalkd is not installed: skipping the --connect tests");

withBeanstalkd("run --connect against the real beanstalkd", () => {
  let bs: ServerProcess;
  beforeAll(async () => {
    bs = await startReference();
  });
  afterAll(async () => {
    await bs?.stop();
  });

  test("the same workers run, retry and bury against beanstalkd 1.12", async () => {
    const run = await startRunner(["--jobs", join(FIXTURES, "basic"), "--connect", `127.0.0.1:${bs.port}`], {
      connectPort: bs.port,
    });
    try {
      const c = await Client.connect({ port: bs.port });
      const ok = await put(c, "ok", { n: 1 });
      const bad = await put(c, "ok", { n: "x" });
      const spin = await put(c, "loop", { spin: true }, { ttr: 1 });
      await run.waitFor(ev("job.done", ok));
      await run.waitFor(invalid(bad));
      await run.waitFor(ev("job.timeout", spin), 4_000);
      expect((await c.statsJob(bad)).state).toBe("buried");
      // No scheduler in a worker-only process: the tick tube never gets jobs.
      await Bun.sleep(1100);
      expect(run.events.some(ev("schedule.tick"))).toBe(false);
      c.close();
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 15_000);

  test("SIGTERM: the running job finishes, the waiting ones stay ready, nothing runs twice", async () => {
    const c = await Client.connect({ port: bs.port });
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(await put(c, "slow", { ms: 800 }, { ttr: 30 }));
    const run = await startRunner(["--jobs", join(FIXTURES, "slow"), "--connect", `127.0.0.1:${bs.port}`, "--grace", "5"], {
      connectPort: bs.port,
    });
    const started = await run.waitFor((l) => l.type === "job.log" && l.msg === "started");
    run.signal("SIGTERM");
    expect(await run.exited).toBe(0);
    const first = started.id!;
    expect(run.events.find((l) => l.type === "job.log" && l.msg === "finished" && l.id === first)).toMatchObject({
      fields: { aborted: true },
    });
    expect(run.events.some(ev("job.done", first))).toBe(true);
    expect(run.events.filter((l) => l.type === "job.log" && l.msg === "started").length).toBe(1);
    expect(await c.statsJob(first).catch((e: Error) => e.message)).toBe("stats-job: NOT_FOUND");
    const rest = ids.filter((id) => id !== first);
    for (const id of rest) {
      const st = await c.statsJob(id);
      expect(st.state).toBe("ready");
      expect(st.reserves).toBe(0);
    }
    const tube = await c.statsTube("slow");
    expect(tube["current-jobs-ready"]).toBe(3);
    expect(tube["current-jobs-reserved"]).toBe(0);
    await c.use("slow");
    for (const id of rest) await c.delete(id);
    c.close();
  }, 15_000);

  test("SIGTERM: a job still running after the grace period is released, not lost", async () => {
    const c = await Client.connect({ port: bs.port });
    const id = await put(c, "slow", { ms: 5000 }, { ttr: 30 });
    const run = await startRunner(["--jobs", join(FIXTURES, "slow"), "--connect", `127.0.0.1:${bs.port}`, "--grace", "0.3"], {
      connectPort: bs.port,
    });
    await run.waitFor((l) => l.type === "job.log" && l.msg === "started" && l.id === id);
    const t0 = Date.now();
    run.signal("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(run.events.find(ev("job.released", id))).toMatchObject({ tube: "slow", attempt: 1 });
    const st = await c.statsJob(id);
    expect(st.state).toBe("ready");
    expect(st.releases).toBe(1);
    await c.delete(id);
    c.close();
  }, 15_000);
});

test("--watch restarts only the workers of the edited file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "beanrun-watch-"));
  const runtime = join(ROOT, "runtime/index.ts");
  const job = (word: string) =>
    `import { defineJob } from ${JSON.stringify(runtime)};\nexport default defineJob({ handler(_p: unknown, ctx) { ctx.log.info(${JSON.stringify(word)}); } });\n`;
  writeFileSync(join(dir, "alpha.ts"), job("alpha v1"));
  writeFileSync(join(dir, "beta.ts"), job("beta v1"));
  const run = await startRunner(["--jobs", dir, "-p", "0", "--watch", "--grace", "1"]);
  try {
    const c = await run.client();
    // Work for both, so both have a process (they start when work arrives).
    await run.waitFor(said("alpha v1", await put(c, "alpha", {})));
    await run.waitFor(said("beta v1", await put(c, "beta", {})));
    const pidOf = (tube: string) => run.events.filter((l) => l.type === "worker.ready" && l.tube === tube).map((l) => l.pid);
    const before = { alpha: pidOf("alpha"), beta: pidOf("beta") };
    writeFileSync(join(dir, "alpha.ts"), job("alpha v2"));
    await run.waitFor((l) => l.type === "module.changed" && l.tube === "alpha", 5_000, "module.changed");
    const exit = await run.waitFor((l) => l.type === "worker.exit" && l.tube === "alpha", 5_000, "alpha's worker exit");
    expect(exit).toMatchObject({ reason: "restart", pid: before.alpha[0] });
    const id = await put(c, "alpha", {});
    const v2 = await run.waitFor(said("alpha v2", id));
    expect(v2.pid).not.toBe(before.alpha[0]);
    expect(pidOf("beta")).toEqual(before.beta);
    expect(run.events.some((l) => l.type === "worker.exit" && l.tube === "beta")).toBe(false);
    c.close();
  } finally {
    expect(await run.stop()).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }
}, 20_000);

test("the compiled executable runs the jobs from a directory with no node_modules", async () => {
  const dir = mkdtempSync(join(tmpdir(), "beanrun-bin-"));
  try {
    const out = join(dir, "build", "beanrun");
    const build = Bun.spawn(
      [process.execPath, join(ROOT, "runtime/cli.ts"), "build", "--jobs", join(FIXTURES, "basic"), "--outfile", out],
      {
        // Not ROOT: bun build --compile writes its temporary .*.bun-build in the working directory, where
        // test/deploy/container.test.ts, running alongside (scripts/test.ts), lists the build context.
        cwd: dir,
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    expect(await build.exited).toBe(0);
    const bin = join(dir, "beanrun");
    copyFileSync(out, bin);
    rmSync(join(dir, "build"), { recursive: true });
    const work = join(dir, "work");
    mkdirSync(work);
    expect(existsSync(join(work, "node_modules"))).toBe(false);
    // No bun on PATH: the executable must start its workers from itself.
    const run = await startRunner(["-p", "0", "--grace", "2"], { cmd: [bin], cwd: work, env: { PATH: "/usr/bin:/bin" } });
    try {
      expect(run.events.find(ev("runner.ready"))!.tubes).toEqual(["batch", "crash", "fail", "loop", "ok", "tick"]);
      const c = await run.client();
      const ok = await put(c, "ok", { n: 7 });
      const bad = await put(c, "ok", { n: "x" });
      const crash = await put(c, "crash", {});
      const fail = await put(c, "fail", {});
      const spin = await put(c, "loop", { spin: true }, { ttr: 1 });
      await run.waitFor(ev("job.done", ok));
      await run.waitFor(invalid(bad));
      expect((await run.waitFor(ev("job.done", crash))).attempt).toBe(2);
      await run.waitFor(ev("job.retry", fail));
      await run.waitFor(ev("job.timeout", spin), 4_000);
      await run.waitFor(ev("schedule.tick"), 3_000);
      c.close();
    } finally {
      expect(await run.stop()).toBe(0);
    }
    expect(readdirSync(work)).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // bun build --compile --bytecode took over 30 s here with the machine loaded by several suites at once.
}, 120_000);

test("run works under Deno (node:child_process IPC through the spawn adapter)", async () => {
  const deno = join(ROOT, "node_modules/.bin/deno");
  const run = await startRunner(["--jobs", join(FIXTURES, "basic"), "-p", "0", "--grace", "2"], {
    cmd: [deno, "run", "-A", join(ROOT, "runtime/cli-deno.ts")],
  });
  try {
    const c = await run.client();
    const ok = await put(c, "ok", { n: 1 });
    const bad = await put(c, "ok", { n: "x" });
    const crash = await put(c, "crash", {});
    // Generous: with the machine loaded by several suites a Deno worker took 7 s to load its modules.
    await run.waitFor(ev("job.done", ok), 60_000);
    await run.waitFor(invalid(bad), 30_000);
    expect((await run.waitFor(ev("job.done", crash), 60_000)).attempt).toBe(2);
    c.close();
  } finally {
    expect(await run.stop()).toBe(0);
  }
}, 180_000);

test("a deploy with the embedded server and -b: stop mid-job, start again, every job runs exactly once", async () => {
  const wal = mkdtempSync(join(tmpdir(), "beanrun-wal-"));
  try {
    const args = ["--jobs", join(FIXTURES, "slow"), "-p", "0", "-b", wal, "--grace", "5"];
    const first = await startRunner(args);
    const c = await first.client();
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push(await put(c, "slow", { ms: 500 }, { ttr: 30 }));
    c.close();
    await first.waitFor((l) => l.type === "job.log" && l.msg === "started");
    first.signal("SIGTERM");
    expect(await first.exited).toBe(0);
    const doneFirst = first.events.filter((l) => l.type === "job.done").map((l) => l.id!);
    expect(doneFirst.length).toBe(1);

    const second = await startRunner(args);
    const rest = ids.filter((id) => !doneFirst.includes(id));
    await second.waitCount((l) => l.type === "job.done" && rest.includes(l.id!), rest.length, 10_000, "done");
    expect(
      second.events
        .filter((l) => l.type === "job.log" && l.msg === "started")
        .map((l) => l.id!)
        .sort((a, b) => a - b),
    ).toEqual(rest);
    expect(second.events.every((l) => l.type !== "job.done" || l.attempt === 1)).toBe(true);
    expect(await second.stop()).toBe(0);
  } finally {
    rmSync(wal, { recursive: true, force: true });
  }
}, 20_000);
