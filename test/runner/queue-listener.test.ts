// The queue's listener hook, which the runner uses to start a tube's worker
// when work arrives: every way a job becomes ready is reported, over a real
// server and client.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Client } from "../../runtime/client/index.ts";
import { type RunningServer, startServer } from "../../runtime/server/index.ts";

let server: RunningServer;
let c: Client;
const seen: [string, number][] = [];

beforeAll(async () => {
  server = await startServer({ port: 0 });
  server.queue.listen({ jobReady: (tube, ready) => void seen.push([tube, ready]) });
  c = await Client.connect({ port: server.port });
});

afterAll(async () => {
  c?.close();
  await server?.close();
});

test("put, release, kick and the end of a delay each report the tube and its ready count", async () => {
  await c.use("mail");
  await c.watch("mail");
  const a = await c.put("a");
  await c.put("b");
  expect(seen).toEqual([
    ["mail", 1],
    ["mail", 2],
  ]);
  expect(server.queue.readyIn("mail")).toBe(2);
  expect(server.queue.readyIn("nope")).toBe(0);

  const job = await c.reserve();
  expect(job.id).toBe(a);
  await c.release(job.id, 1, 0);
  expect(seen.at(-1)).toEqual(["mail", 2]);

  const j2 = await c.reserve();
  await c.bury(j2.id);
  const before = seen.length;
  await c.kickJob(j2.id);
  expect(seen.slice(before)).toEqual([["mail", 2]]);

  await c.put("later", { delay: 1 });
  const n = seen.length;
  const end = Date.now() + 5_000;
  while (seen.length === n && Date.now() < end) await Bun.sleep(20);
  expect(seen.slice(n)).toEqual([["mail", 3]]);

  server.queue.listen(null);
  await c.put("unheard");
  expect(seen.length).toBe(n + 1);
});
