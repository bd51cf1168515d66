/**
 * The same server under Deno (node:net transport): a protocol smoke test over
 * a real socket, so the runtime-neutral core stays runtime-neutral.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type ServerProcess, startDeno } from "./support/servers.ts";
import { Wire } from "./support/wire.ts";

let server: ServerProcess;

beforeAll(async () => {
  server = await startDeno();
}, 60_000);

afterAll(() => server?.stop());

/** Sends `input` on a fresh connection and returns what arrived once `until` holds (or after 5 s). */
async function exchange(input: string, until: (s: string) => boolean): Promise<string> {
  const w = await Wire.open(server.port);
  w.send(input);
  const out = await w.until(until, 5000);
  w.close();
  return out;
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
