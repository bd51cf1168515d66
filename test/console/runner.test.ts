/**
 * The console in Chromium against a real `beanrun run` (server + workers):
 * a job buried by a failing handler shows its error and stack on the tube
 * page and in `beanrun peek`; kicked from the page, it is processed; the
 * workers page shows a restart after the worker is killed; the schedules
 * page shows the cron entry and its last tick; the editor refuses a payload
 * the tube's schema rejects. Screenshots of each page go to docs/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { ev, put, ROOT, type Runner, startRunner } from "../runner/support.ts";
import { haveChromium, launch } from "./browser.ts";
import { screenshot } from "./shots.ts";

const JOBS = join(import.meta.dir, "fixtures/jobs");
let dir = "";
let flag = "";
let runner: Runner;
let browser: Browser;
let base = "";

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe.skipIf(!haveChromium)("console in chromium (run)", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "beanrun-console-"));
    flag = join(dir, "smtp-up");
    const http = await freePort();
    runner = await startRunner(["--jobs", JOBS, "-p", "0", "--http", String(http)], { env: { CONSOLE_TEST_FLAG: flag } });
    base = `http://127.0.0.1:${http}/`;
    browser = await launch();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await runner?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function page(width = 1000): Promise<Page> {
    const p = await browser.newPage({ viewport: { width, height: 900 } });
    // Playwright's 30 s default ran out on a machine loaded by several suites at once; the tests' own limits are longer.
    p.setDefaultTimeout(90_000);
    p.on("pageerror", (e) => {
      throw e;
    });
    return p;
  }

  test("a failing handler's job: error and stack on the tube page and in peek; kicked from the page, it is processed", async () => {
    const c = await runner.client();
    const id = await put(c, "mailer", { to: "ada@example.com" });
    c.close();
    await runner.waitFor(ev("job.buried", id), 30_000, "job.buried");
    const p = await page();
    await p.goto(`${base}#/tube/mailer/buried`);
    await p.waitForSelector(`[data-job="${id}"] .failure pre.stack`);
    const card = (await p.textContent(`[data-job="${id}"]`))!;
    expect(card).toContain("smtp down: cannot send to ada@example.com");
    expect(card).toContain("attempt 1");
    expect(await p.textContent(`[data-job="${id}"] pre.stack`)).toContain("mailer.ts");
    await screenshot(p, "tube");

    const peek = spawnSync(process.execPath, [join(ROOT, "runtime/cli.ts"), "peek", String(id), "-s", `127.0.0.1:${runner.port}`], {
      encoding: "utf8",
    });
    expect(peek.stdout).toContain("last-failure: smtp down: cannot send to ada@example.com");
    expect(peek.stdout).toContain("failure-stack: |");

    writeFileSync(flag, "");
    await p.click(`[data-job="${id}"] [data-act="kick"]`);
    await runner.waitFor(ev("job.done", id), 30_000, "job.done after the kick");
    await p.goto(`${base}#/job/${id}`);
    // Only the hash changes: wait for the job view's own heading, not the tube page's h2 still showing.
    await p.locator("main h2", { hasText: `Job ${id}` }).waitFor();
    expect(await p.textContent("main")).toContain("not found");
    await p.goto(base);
    await p.waitForSelector("svg.chart rect");
    await screenshot(p, "overview");
    await p.close();
  }, 240_000);

  test("the editor refuses a payload the tube's schema rejects", async () => {
    const p = await page();
    await p.goto(`${base}#/tube/mailer`);
    await p.waitForSelector(".editor textarea");
    await p.fill(".editor textarea", '{"to": "not an email"}');
    await p.click('[data-act="put"]');
    await p.waitForSelector('[data-role="verdict"].bad');
    expect(await p.textContent('[data-role="verdict"]')).toContain("to:");
    await p.close();
  }, 240_000);

  test("the workers page shows a restart after the worker is killed; schedules show their last tick", async () => {
    const p = await page();
    await p.goto(`${base}#/workers`);
    await p.waitForSelector('[data-worker="mailer"]');
    const ready = await runner.waitFor((e) => e.type === "worker.ready" && e.tube === "mailer", 30_000, "mailer worker ready");
    process.kill(ready.pid!, "SIGKILL");
    await runner.waitFor((e) => e.type === "worker.exit" && e.tube === "mailer" && e.reason === "crash", 30_000, "worker.exit crash");
    await p.locator('[data-worker="mailer"]', { hasText: /exited unexpectedly/ }).waitFor({ timeout: 30_000 });
    const row = (await p.textContent('[data-worker="mailer"]'))!;
    expect(row).toContain("signal SIGKILL");
    await runner.waitFor((e) => e.type === "worker.ready" && e.tube === "mailer" && e.pid !== ready.pid, 30_000, "replacement ready");
    await screenshot(p, "workers");

    await runner.waitFor(ev("schedule.tick"), 30_000, "a cron tick");
    await p.goto(`${base}#/schedules`);
    await p.locator("main table", { hasText: /job #\d+/ }).waitFor({ timeout: 30_000 });
    expect(await p.textContent("main table")).toContain("*/2 * * * * *");
    await screenshot(p, "schedules");
    await p.close();
  }, 240_000);
});
