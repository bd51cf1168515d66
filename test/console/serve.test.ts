/**
 * The console in a real headless Chromium against a real server (no runner):
 * kick one, delete all buried with its confirmation, pause and resume, put
 * from the editor (including a refusal for bad JSON), a tube named with
 * every character beanstalkd allows, 420 px without sideways scrolling, and
 * a mutation refused without the token when bound off loopback. Screenshots
 * of the pages go to docs/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { type RunningServer, startServer } from "../../runtime/server/index.ts";
import { Wire } from "../support/wire.ts";
import { haveChromium, launch } from "./browser.ts";
import { screenshot } from "./shots.ts";

const TUBE = "a-+/;.$_()Z9";
let server: RunningServer;
let browser: Browser;
let base = "";

/** Sends `input`, half-closes, and returns every reply once the server has closed. */
const send = (input: string): Promise<string> => Wire.exchange(server.port, input);
/** Waits until the toast's text matches. */
const toastSays = (p: Page, re: RegExp) => p.locator("#toast", { hasText: re }).waitFor();
const stat = async (tube: string, field: string): Promise<number> =>
  Number(new RegExp(`\\n${field}: (\\d+)`).exec(await send(`stats-tube ${tube}\r\n`))?.[1] ?? NaN);

describe.skipIf(!haveChromium)("console in chromium (serve)", () => {
  beforeAll(async () => {
    server = await startServer({ port: 0, httpPort: 0, maxJobSize: 1 << 20 });
    base = `http://127.0.0.1:${server.httpPort}/`;
    browser = await launch();
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
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

  test("kick one buried job, then delete all buried after typing the tube's name", async () => {
    const big = "y".repeat(200_000); // the list shows its first 4 KiB
    await send(
      `use ${TUBE}\r\nput 1 0 30 11\r\n{"order":1}\r\nput 2 0 30 4\r\n\xff\x00<b\r\nput 3 0 30 ${big.length}\r\n${big}\r\n` +
        `watch ${TUBE}\r\nreserve-with-timeout 0\r\nbury 1 1\r\nreserve-with-timeout 0\r\nbury 2 2\r\nreserve-with-timeout 0\r\nbury 3 3\r\n`,
    );
    expect(await stat(TUBE, "current-jobs-buried")).toBe(3);
    const p = await page();
    await p.goto(base);
    await p.click(`a[href="#/tube/${encodeURIComponent(TUBE)}"]`);
    await p.waitForSelector('[data-job="1"]');
    expect(await p.textContent("[data-tube]")).toBe(TUBE);
    // Bodies: JSON pretty-printed, bytes that are not UTF-8 escaped (and never as HTML), a big one truncated.
    expect(await p.textContent('[data-job="1"] pre.body')).toBe('{\n  "order": 1\n}');
    expect(await p.textContent('[data-job="2"] pre.body')).toBe("\\xff\\x00<b");
    expect(await p.locator('[data-job="2"] b').count()).toBe(1); // only the id's own <b>
    expect(await p.textContent('[data-job="3"]')).toContain("truncated");
    await screenshot(p, "tube-bodies");

    await p.click('[data-job="1"] [data-act="kick"]');
    await p.waitForSelector('[data-job="1"]', { state: "detached" });
    expect(await p.textContent("#toast")).toBe("job 1 kicked");
    expect(await stat(TUBE, "current-jobs-ready")).toBe(1);
    await p.goto(`${base}#/job/1`);
    await p.waitForSelector('[data-job="1"]');
    await screenshot(p, "job");
    await p.goto(`${base}#/tube/${encodeURIComponent(TUBE)}/buried`);
    await p.waitForSelector('[data-job="2"]');

    await p.click('[data-act="delete-buried"]');
    await p.fill("#confirm-input", "not the name");
    await p.click("#confirm-ok");
    await p.waitForSelector("#toast.bad");
    expect(await stat(TUBE, "current-jobs-buried")).toBe(2);
    await p.click('[data-act="delete-buried"]');
    await p.fill("#confirm-input", TUBE);
    await p.click("#confirm-ok");
    await toastSays(p, /2 buried jobs deleted/);
    expect(await stat(TUBE, "current-jobs-buried")).toBe(0);
    await p.close();
  }, 240_000);

  test("pause and resume a tube", async () => {
    const p = await page();
    await p.goto(`${base}#/tube/${encodeURIComponent(TUBE)}`);
    await p.click('[data-act="pause"]');
    await p.waitForSelector('[data-act="resume"]');
    expect(await stat(TUBE, "pause")).toBe(300);
    await p.click('[data-act="resume"]');
    await p.waitForSelector('[data-act="pause"]');
    expect(await stat(TUBE, "pause")).toBe(0);
    await p.close();
  }, 240_000);

  test("put a job from the editor; JSON that does not parse is refused before it is sent", async () => {
    const p = await page();
    await p.goto(`${base}#/tube/${encodeURIComponent(TUBE)}`);
    await p.waitForSelector(".editor textarea");
    const before = await stat(TUBE, "total-jobs");
    await p.fill(".editor textarea", '{"to": "ada@example.com",');
    await p.click('[data-act="put"]');
    await p.waitForSelector("#toast.bad");
    expect(await p.textContent('[data-role="verdict"]')).toContain("not JSON");
    expect(await stat(TUBE, "total-jobs")).toBe(before);
    await p.fill(".editor textarea", '{"to": "ada@example.com"}');
    await p.fill('.editor input[name="priority"]', "7");
    await p.click('[data-act="put"]');
    await toastSays(p, /job \d+ put into/);
    expect(await stat(TUBE, "total-jobs")).toBe(before + 1);
    const id = Number(/job (\d+) put/.exec((await p.textContent("#toast"))!)![1]);
    expect(await send(`stats-job ${id}\r\n`)).toContain("pri: 7");
    await p.close();
  }, 240_000);

  test("search by id; every page reads at 420 px without sideways scrolling", async () => {
    const p = await page(420);
    await p.goto(base);
    await p.waitForSelector("table");
    await screenshot(p, "overview-420");
    for (const [hash, heading] of [
      [`#/tube/${encodeURIComponent(TUBE)}`, `Tube ${TUBE}`],
      ["#/workers", "Workers"],
      ["#/schedules", "Schedules"],
    ] as const) {
      await p.goto(base + hash);
      // Only the hash changes: wait for this view's heading, not the previous page's h2 still showing.
      await p.locator("main h2", { hasText: heading }).waitFor();
      expect(await p.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(420);
    }
    await p.fill("#search-id", "2");
    await p.press("#search-id", "Enter");
    await p.waitForSelector("main h2:text('Job 2')");
    expect(await p.textContent("main")).toContain("not found");
    await p.close();
  }, 240_000);
});

describe.skipIf(!haveChromium)("console in chromium, bound off loopback", () => {
  test("a mutation is refused without the token, and bodies are hidden", async () => {
    const s = await startServer({ port: 0, httpPort: 0, httpHost: "0.0.0.0", httpToken: "t0ken" });
    const b = await launch();
    try {
      await Wire.exchange(s.port, "use secret\r\nput 0 0 10 6\r\nhidden\r\n");
      const p = await b.newPage();
      p.setDefaultTimeout(90_000);
      p.on("dialog", (d) => void d.dismiss());
      await p.goto(`http://127.0.0.1:${s.httpPort}/#/tube/secret`);
      await p.waitForSelector(".job");
      expect(await p.textContent(".job")).toContain("Body hidden");
      expect(await p.textContent(".job")).not.toContain("hidden\n");
      await p.click('[data-act="delete"]');
      await p.waitForSelector("#toast.bad");
      expect(await p.textContent("#toast")).toContain("token");
      expect(s.queue.findTube("secret")).toBeDefined();
    } finally {
      await b.close();
      await s.close();
    }
  }, 240_000);
});
