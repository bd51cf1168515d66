/**
 * The job module contract (validation messages) and the typed producer
 * (schema check before sending, delay and runAt), against an in-process server.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as v from "valibot";
import { Client } from "../../runtime/client/index.ts";
import { defineJob, EnqueueError, Producer } from "../../runtime/index.ts";
import { retryDelay } from "../../runtime/runner/define.ts";
import { resolveJob } from "../../runtime/runner/validate.ts";
import { type RunningServer, startServer } from "../../runtime/server/index.ts";

const mod = (d: unknown) => ({ default: d });
const err = async (d: unknown, tube = "email"): Promise<string> => {
  try {
    await resolveJob("jobs/email.ts", tube, mod(d));
    return "no error";
  } catch (e) {
    return (e as Error).message;
  }
};

test("a module of the wrong shape is refused with the file and the field named", async () => {
  const handler = () => {};
  expect(await err(undefined)).toStartWith('jobs/email.ts: "default" must be the job definition');
  expect(await err({})).toStartWith('jobs/email.ts: "handler" must be a function');
  expect(await err({ handler, ttr: 0 })).toStartWith('jobs/email.ts: "ttr" must be an integer from 1');
  expect(await err({ handler, priority: -1 })).toStartWith('jobs/email.ts: "priority" must be an integer from 0');
  expect(await err({ handler, concurrency: 1.5 })).toStartWith('jobs/email.ts: "concurrency"');
  expect(await err({ handler, retries: { attempts: 0 } })).toStartWith('jobs/email.ts: "retries.attempts"');
  expect(await err({ handler, retries: { backoff: "fast" } })).toStartWith('jobs/email.ts: "retries.backoff" must be seconds');
  expect(await err({ handler, schema: { parse() {} } })).toStartWith('jobs/email.ts: "schema" must be a valibot schema');
  expect(await err({ handler, schedule: "every day" })).toStartWith('jobs/email.ts: "schedule.cron" "every day" is not a valid pattern');
  expect(await err({ handler, schedule: ["* * * * *", { cron: "61 * * * *" }] })).toStartWith('jobs/email.ts: "schedule[1].cron"');
  expect(await err({ handler, tube: "mail" })).toStartWith('jobs/email.ts: "tube" is "mail" but the file name makes the tube "email"');
  expect(await err({ handler, ttl: 5 })).toStartWith('jobs/email.ts: "ttl" is not a job setting');
  expect(await err({ handler }, "-bad")).toContain("is not a valid tube name");
  const ok = await resolveJob("jobs/email.ts", "email", mod(defineJob({ handler, schedule: "*/5 * * * * *" })));
  expect(ok).toMatchObject({ tube: "email", priority: 1024, ttr: 60, concurrency: 1, attempts: 3 });
  expect(ok.schedules).toEqual([{ cron: "*/5 * * * * *", payload: {}, timezone: undefined }]);
});

test("retry delays grow exponentially up to the cap", () => {
  const b = { base: 1, factor: 2, max: 10 };
  expect([1, 2, 3, 4, 5, 6].map((a) => retryDelay(b, a))).toEqual([1, 2, 4, 8, 10, 10]);
});

let server: RunningServer;
let producer: Producer;
let c: Client;

beforeAll(async () => {
  server = await startServer({ port: 0 });
  producer = await Producer.connect(`127.0.0.1:${server.port}`);
  c = await Client.connect({ port: server.port });
});
afterAll(async () => {
  producer?.close();
  c?.close();
  await server?.close();
});

const email = defineJob({
  tube: "email",
  schema: v.object({ to: v.pipe(v.string(), v.email()), n: v.optional(v.number(), 1) }),
  priority: 7,
  ttr: 20,
  handler(payload) {
    // Typed by the schema: `to` is a string, `n` a number.
    const check: { to: string; n: number } = payload;
    void check;
  },
});

test("enqueue validates with the job's schema, then puts with its priority and TTR", async () => {
  const id = await producer.enqueue(email, { to: "a@b.org" });
  const st = await c.statsJob(id);
  expect(st).toMatchObject({ tube: "email", pri: 7, ttr: 20, state: "ready" });
  expect(new TextDecoder().decode((await c.peek(id))!.body)).toBe('{"to":"a@b.org"}');

  const delayed = await producer.enqueue(email, { to: "a@b.org" }, { delay: 30, priority: 1 });
  expect(await c.statsJob(delayed)).toMatchObject({ state: "delayed", delay: 30, pri: 1 });
  const later = await producer.enqueue(email, { to: "a@b.org" }, { runAt: new Date(Date.now() + 90_500) });
  expect((await c.statsJob(later)).delay).toBe(91);

  // @ts-expect-error: the payload type comes from the schema
  const bad = producer.enqueue(email, { to: 42 });
  await expect(bad).rejects.toThrow(EnqueueError);
  await expect(producer.enqueue(email, { to: "nope" })).rejects.toThrow(/payload rejected by the schema: to: Invalid email/);

  const anonymous = defineJob({ handler(_p: { x: number }) {} });
  await expect(producer.enqueue(anonymous, { x: 1 })).rejects.toThrow(/does not say its tube/);
  expect((await c.statsTube("email"))["total-jobs"]).toBe(3);
});
