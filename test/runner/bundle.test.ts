/**
 * Workers under Bun start from one bundle of their code
 * (runtime/adapters/worker-bundle.ts, runtime/cli-worker.ts), and a job
 * module's import of beanrun's API is answered with the bundle's own modules,
 * not a second copy loaded file by file from runtime/. Each job reports what
 * its process runs: the script it was started with and the runtime/ files
 * Bun loaded (require.cache lists ES modules too). BEANRUN_WORKER_BUNDLE=0
 * starts workers from the entry point as before.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { workerBundle } from "../../runtime/adapters/worker-bundle.ts";
import { put, ROOT, said, startRunner } from "./support.ts";

const RUNTIME = join(ROOT, "runtime");
let jobs: string;

beforeAll(async () => {
  jobs = mkdtempSync(join(tmpdir(), "beanrun-bundle-test-"));
  writeFileSync(
    join(jobs, "where.ts"),
    `import { defineJob, enqueue } from ${JSON.stringify(join(RUNTIME, "index.ts"))};
import { Client } from ${JSON.stringify(join(RUNTIME, "client/index.ts"))};
export default defineJob({
  handler(_p, ctx) {
    const runtime = Object.keys(require.cache).filter((k) => k.startsWith(${JSON.stringify(`${RUNTIME}/`)}));
    ctx.log.info("where", { main: process.argv[1], runtime, api: typeof enqueue === "function" && typeof Client === "function" });
  },
});
`,
  );
  // The test process shares the cache: wait here until the bundle exists, so the runner finds it at its first worker.
  for (const end = Date.now() + 60_000; !workerBundle(); await Bun.sleep(50)) {
    if (Date.now() > end) throw new Error("the worker bundle was not built within 60 s");
  }
});

afterAll(() => rmSync(jobs, { recursive: true, force: true }));

async function whereTheJobRuns(env: Record<string, string>): Promise<{ main: string; runtime: string[]; api: boolean }> {
  const run = await startRunner(["--jobs", jobs, "-p", "0"], { env });
  try {
    const c = await run.client();
    const id = await put(c, "where", {});
    const e = await run.waitFor(said("where", id), 60_000);
    c.close();
    return e.fields as { main: string; runtime: string[]; api: boolean };
  } finally {
    await run.stop();
  }
}

test("a worker starts from the bundle, and the job's imports of beanrun are the bundle's modules", async () => {
  const w = await whereTheJobRuns({});
  expect(w.main).toBe(workerBundle()!);
  expect(w.main).toContain(join("node_modules", ".cache", "beanrun", "worker-"));
  // Only the two entry points the plugin answers; none of the files behind them.
  expect(w.runtime.sort()).toEqual([join(RUNTIME, "client/index.ts"), join(RUNTIME, "index.ts")]);
  expect(w.api).toBe(true);
}, 120_000);

test("BEANRUN_WORKER_BUNDLE=0: the worker starts from the entry point and loads runtime/ file by file", async () => {
  const w = await whereTheJobRuns({ BEANRUN_WORKER_BUNDLE: "0" });
  expect(w.main).toBe(join(RUNTIME, "cli.ts"));
  expect(w.runtime).toContain(join(RUNTIME, "runner/define.ts"));
  expect(w.api).toBe(true);
}, 120_000);
