/**
 * Failure records under `run --connect`: against beanrun's server they go
 * over the note extension and the server keeps them; against beanstalkd
 * (which answers UNKNOWN_COMMAND) the runner keeps them itself and says so
 * once, as a runner.error event.
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { startServer } from "../../runtime/server/index.ts";
import { ev, put, type Runner, startRunner } from "../runner/support.ts";
import { BEANSTALKD, startReference } from "../support/servers.ts";

const JOBS = join(import.meta.dir, "fixtures/jobs");
const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function buryOne(r: Runner): Promise<number> {
  const c = await r.client();
  const id = await put(c, "mailer", { to: "ada@example.com" });
  c.close();
  await r.waitFor(ev("job.buried", id), 30_000, "job.buried");
  return id;
}

test("against beanrun's server the record is kept by the server", async () => {
  const s = await startServer({ port: 0 });
  cleanup.push(() => s.close());
  const r = await startRunner(["--jobs", JOBS, "--only", "mailer", "--connect", `127.0.0.1:${s.port}`], { connectPort: s.port });
  cleanup.push(() => r.stop());
  const id = await buryOne(r);
  for (let i = 0; i < 100 && !s.failures.get(id); i++) await Bun.sleep(50);
  expect(s.failures.get(id)).toMatchObject({ message: "smtp down: cannot send to ada@example.com", attempt: 1, outcome: "buried" });
  expect(r.events.some((e) => e.type === "runner.error")).toBe(false);
}, 60_000);

test.skipIf(!BEANSTALKD)(
  "against beanstalkd the runner keeps the records and says so once",
  async () => {
    const b = await startReference();
    cleanup.push(() => b.stop());
    const r = await startRunner(["--jobs", JOBS, "--only", "mailer", "--connect", `127.0.0.1:${b.port}`], { connectPort: b.port });
    cleanup.push(() => r.stop());
    await buryOne(r);
    const said = await r.waitFor(
      (e) => e.type === "runner.error" && /does not keep failure records/.test(String(e.msg)),
      30_000,
      "the runner says it keeps them",
    );
    expect(String(said.msg)).toContain("the runner keeps the last 10000 in memory");
    await buryOne(r);
    await Bun.sleep(500);
    expect(r.events.filter((e) => e.type === "runner.error").length).toBe(1);
  },
  60_000,
);
