/**
 * The worker's native socket (adapters/bun-connect.ts) under the client's
 * Connection, against a real server: a body far larger than the kernel's
 * socket buffer arrives whole (Bun's write takes part; the rest goes on
 * drain), replies to what was sent before a half-close still arrive (the
 * hang-up path of hangup.test.ts, here byte-level), and a refused
 * connection rejects.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../../runtime/adapters/bun-connect.ts";
import { Connection } from "../../runtime/client/connection.ts";
import { Client } from "../../runtime/client/index.ts";
import type { Reply } from "../../runtime/client/replies.ts";
import { freePort, type ServerProcess, startOurs } from "../support/servers.ts";

let server: ServerProcess;
beforeAll(async () => {
  server = await startOurs(["-z", String(8 << 20)]);
});
afterAll(() => server?.stop());

const word = (r: Reply): string => [r.word, ...r.args].join(" ");

test("a 6 MiB body goes out whole, and half-closing still gets the replies to what was sent", async () => {
  const conn = new Connection(await connect("127.0.0.1", server.port));
  const body = new Uint8Array(6 << 20);
  for (let i = 0; i < body.length; i++) body[i] = 97 + (i % 26);
  const used = conn.request("use", "use bun-connect\r\n", word);
  const put = conn.request("put", `put 0 0 60 ${body.length}\r\n`, word, body);
  const small = conn.request("put", "put 0 0 60 1\r\n", word, new Uint8Array([120]));
  const ended = conn.end(); // right behind the puts, before the kernel has taken them
  expect(await used).toBe("USING bun-connect");
  const id = Number((await put).split(" ")[1]);
  expect(await small).toMatch(/^INSERTED \d+$/);
  await ended;
  expect(conn.closed).toBe(true);

  const c = await Client.connect({ port: server.port });
  const job = (await c.peek(id))!;
  expect(job.body.length).toBe(body.length);
  expect(Buffer.from(job.body).equals(Buffer.from(body))).toBe(true);
  c.close();
});

test("a refused connection rejects", async () => {
  const port = await freePort();
  await expect(connect("127.0.0.1", port)).rejects.toBeDefined();
});
