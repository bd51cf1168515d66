/** `beanrun tail` against a real console: outcomes appear as lines as they happen, filtered by tube. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { type RunningServer, startServer } from "../../runtime/server/index.ts";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ port: 0, httpPort: 0 });
});
afterAll(() => server.close());

test("tail TUBE prints each outcome of that tube, with its error", async () => {
  const cli = join(import.meta.dir, "../../runtime/cli.ts");
  const p = spawn(process.execPath, [cli, "tail", "mail", "--http", `127.0.0.1:${server.httpPort}`], { stdio: ["ignore", "pipe", "pipe"] });
  try {
    let out = "";
    const seen = (re: RegExp) =>
      new Promise<void>((resolve) => {
        const check = () => (re.test(out) ? resolve() : undefined);
        p.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          check();
        });
        check();
      });
    // Wait until tail is subscribed: keep recording until its first line shows up.
    const o = server.console!.outcomes;
    const first = seen(/#1 /);
    const timer = setInterval(() => o.record({ at: Date.now(), id: 1, tube: "mail", attempt: 1, outcome: "done", ms: 5 }), 200);
    await first;
    clearInterval(timer);
    o.record({ at: Date.now(), id: 2, tube: "other", attempt: 1, outcome: "done", ms: 5 });
    o.record({
      at: Date.now(),
      id: 3,
      tube: "mail",
      attempt: 2,
      outcome: "buried",
      ms: 1234,
      error: { message: "smtp down\nmore", stack: "Error: smtp down" },
    });
    await seen(/#3 /);
    expect(out).toMatch(/#3 {2}mail {2}attempt 2 {2}buried {2}1234 ms {2}smtp down\n/);
    expect(out).not.toContain("#2 ");
  } finally {
    p.kill();
  }
}, 30_000);
