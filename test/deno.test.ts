/**
 * The same server under Deno (node:net transport): a protocol smoke test over
 * a real socket, so the runtime-neutral core stays runtime-neutral.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as net from "node:net";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const deno = join(root, "node_modules/.bin/deno");
let proc: ReturnType<typeof Bun.spawn>;
let port = 0;

beforeAll(async () => {
  proc = Bun.spawn([deno, "run", "-A", join(root, "runtime/cli-deno.ts"), "serve", "-p", "0"], {
    cwd: root,
    stderr: "pipe",
    stdout: "ignore",
  });
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!/listening on [\d.]+:(\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`deno server did not start: ${text}`);
    text += new TextDecoder().decode(value);
  }
  port = Number(text.match(/listening on [\d.]+:(\d+)/)![1]);
  reader.releaseLock();
}, 60_000);

afterAll(() => {
  proc?.kill();
});

function exchange(input: string, until: (s: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    const s = net.connect(port, "127.0.0.1", () => s.write(input));
    s.on("data", (d: Buffer) => {
      out += d.toString("latin1");
      if (until(out)) {
        s.destroy();
        resolve(out);
      }
    });
    s.on("error", reject);
    setTimeout(() => {
      s.destroy();
      resolve(out);
    }, 5000);
  });
}

test("put, reserve, bury, kick, delete and stats under Deno", async () => {
  const out = await exchange(
    "use d\r\nput 7 0 10 5\r\nhello\r\nwatch d\r\nreserve-with-timeout 1\r\nbury 1 9\r\nkick 1\r\nreserve\r\ndelete 1\r\nstats-tube d\r\n",
    (s) => s.includes("pause-time-left"),
  );
  expect(out).toStartWith(
    "USING d\r\nINSERTED 1\r\nWATCHING 2\r\nRESERVED 1 5\r\nhello\r\nBURIED\r\nKICKED 1\r\nRESERVED 1 5\r\nhello\r\nDELETED\r\nOK ",
  );
  expect(out).toContain('name: "d"\n');
  expect(out).toContain("cmd-delete: 1\n");
});

test("a blocking reserve is woken by a put from another connection under Deno", async () => {
  const waiter = exchange("watch w\r\nreserve\r\n", (s) => s.includes("RESERVED"));
  await new Promise((r) => setTimeout(r, 200));
  await exchange("use w\r\nput 0 0 10 2\r\nhi\r\n", (s) => s.includes("INSERTED"));
  const out = await waiter;
  expect(out).toMatch(/WATCHING 2\r\nRESERVED \d+ 2\r\nhi\r\n$/);
});
