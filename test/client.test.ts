/** The typed client against a live beanrun server. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startServer, type RunningServer } from "../runtime/server/index.ts";
import { BeanstalkError, Client, json, text } from "../runtime/client/index.ts";

let server: RunningServer;
let c: Client;

beforeAll(async () => {
  server = await startServer({ port: 0 });
  c = await Client.connect({ port: server.port });
});
afterAll(async () => {
  c.close();
  await server.close();
});

test("every command, with typed results and errors", async () => {
  expect(await c.use("t")).toBe("t");
  expect(await c.watch("t")).toBe(2);
  expect(await c.ignore("default")).toBe(1);
  await expect(c.ignore("t")).rejects.toMatchObject({ code: "NOT_IGNORED" });
  const id = await c.put(JSON.stringify({ n: 1 }), { priority: 3, ttr: 10 });
  const delayed = await c.put("later", { delay: 100 });
  expect(text((await c.peek(id))!)).toBe('{"n":1}');
  expect((await c.peekDelayed())!.id).toBe(delayed);
  expect(await c.peekBuried()).toBeNull();
  const job = await c.reserve();
  expect(json<{ n: number }>(job)).toEqual({ n: 1 });
  await c.touch(job.id);
  await c.release(job.id, 5, 0);
  expect((await c.reserveWithTimeout(0))!.id).toBe(id);
  await c.bury(id, 9);
  expect((await c.peekBuried())!.id).toBe(id);
  expect(await c.kick(1)).toBe(1);
  await c.kickJob(delayed);
  const st = await c.statsJob(delayed);
  expect(st.state).toBe("ready");
  expect(st.tube).toBe("t");
  expect(st.kicks).toBe(1);
  expect((await c.reserveJob(delayed))!.id).toBe(delayed);
  await c.delete(delayed);
  await expect(c.delete(delayed)).rejects.toBeInstanceOf(BeanstalkError);
  expect((await c.statsTube("t"))["current-jobs-ready"]).toBe(1);
  expect((await c.stats())["cmd-put"]).toBe(2);
  expect(await c.listTubes()).toEqual(["default", "t"]);
  expect(await c.listTubesWatched()).toEqual(["t"]);
  expect(await c.listTubeUsed()).toBe("t");
  await c.pauseTube("t", 0);
  expect(await c.reserveWithTimeout(0)).not.toBeNull();
});

test("pipelining: 2,000 puts in flight, binary bodies intact", async () => {
  const body = new Uint8Array([0, 13, 10, 255, 13, 10]);
  const ids = await Promise.all(Array.from({ length: 2000 }, () => c.put(body)));
  expect(new Set(ids).size).toBe(2000);
  const peeked = await c.peek(ids[1999]!);
  expect(Array.from(peeked!.body)).toEqual(Array.from(body));
  await Promise.all(ids.map((id) => c.delete(id)));
});

test("a dropped connection rejects pending commands", async () => {
  const d = await Client.connect({ port: server.port });
  await d.watch("nothing");
  const pending = d.reserveWithTimeout(10);
  let closed = false;
  d.onClose(() => (closed = true));
  d.close();
  await expect(pending).rejects.toThrow();
  expect(closed).toBe(true);
});
