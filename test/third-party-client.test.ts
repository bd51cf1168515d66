/**
 * Existing npm clients work unchanged: the same flows through `jackd` (promise
 * based, TypeScript) and `fivebeans` (callbacks, parses YAML with js-yaml)
 * against beanrun and, when installed, against the real beanstalkd. Each flow
 * asserts what a user would expect, and returns a record of everything the
 * library handed back; the records from both servers must be equal (minus the
 * server's pid/version/rusage/uptime/instance id/host names, and job ages).
 *
 *   bun test test/third-party-client.test.ts --timeout 30000
 */
import { describe, expect, test } from "bun:test";
import fivebeans from "fivebeans";
import Jackd from "jackd";
import { VOLATILE_STATS_KEYS } from "./support/normalise.ts";
import { BEANSTALKD, type ServerProcess, startOurs, startReference } from "./support/servers.ts";

type Rec = Record<string, unknown>;

/** Drops only the values that differ between any two servers (or two runs). */
function stable(stats: Rec): Rec {
  const out: Rec = { ...stats };
  if ("current-jobs-urgent" in out && "pid" in out) for (const k of VOLATILE_STATS_KEYS) delete out[k];
  delete out.age;
  delete out["time-left"];
  delete out["pause-time-left"];
  return out;
}

/** "key: value" YAML as beanstalkd writes it (jackd returns the raw text). */
function yamlMap(text: string): Rec {
  const out: Rec = {};
  for (const line of text.split("\n")) {
    const m = /^([\w-]+): (.*)$/.exec(line);
    if (m) out[m[1]!] = /^-?\d+$/.test(m[2]!) ? Number(m[2]) : m[2]!.replace(/^"(.*)"$/, "$1");
  }
  return out;
}
function yamlList(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("- "))
    .map((l) => l.slice(2));
}

async function jackdFlow(port: number): Promise<Rec> {
  const rec: Rec = {};
  const producer = new Jackd();
  const worker = new Jackd();
  await producer.connect({ host: "127.0.0.1", port });
  await worker.connect({ host: "127.0.0.1", port });
  try {
    expect(await producer.use("emails")).toBe("emails");
    const id = await producer.put({ to: "a@example.com" }, { priority: 10, delay: 0, ttr: 30 });
    // jackd JSON-encodes Buffers and objects; a string goes out as its UTF-8 bytes.
    const id2 = await producer.put("a\r\nb\0\r\n", { priority: 20 });
    const delayed = await producer.put("later", { delay: 60 });
    rec.ids = [id, id2, delayed];
    expect(await worker.watch("emails")).toBe(2);
    expect(await worker.ignore("default")).toBe(1);
    rec.watched = yamlList(await worker.listTubesWatched("" as never));

    const job = await worker.reserveWithTimeout(2);
    expect(job.id).toBe(id);
    expect(JSON.parse(job.payload.toString())).toEqual({ to: "a@example.com" });
    await worker.touch(job.id);
    const reservedStats = yamlMap(await producer.statsJob(job.id));
    expect(reservedStats.state).toBe("reserved");
    expect(reservedStats["time-left"]).toBeGreaterThanOrEqual(28);
    rec.reservedStats = stable(reservedStats);

    await worker.release(job.id, { priority: 5, delay: 0 });
    const again = await worker.reserve();
    expect(again.id).toBe(id);
    await worker.bury(again.id, 7);
    const bin = await worker.reserve();
    expect(bin.id).toBe(id2);
    expect(bin.payload.toString()).toBe("a\r\nb\0\r\n");
    await worker.release(bin.id, { priority: 20, delay: 0 });

    const buried = await producer.peekBuried();
    expect(buried.id).toBe(id);
    expect((await producer.peekDelayed()).id).toBe(delayed);
    expect((await producer.peekReady()).id).toBe(id2);
    expect(await producer.kick(10)).toBe(1);
    await producer.kickJob(delayed);

    const tubeStats = yamlMap(await producer.statsTube("emails"));
    expect(tubeStats["current-jobs-ready"]).toBe(3);
    rec.tubeStats = stable(tubeStats);
    const jobStats = yamlMap(await producer.statsJob(id));
    expect(jobStats.buries).toBe(1);
    expect(jobStats.releases).toBe(1);
    expect(jobStats.kicks).toBe(1);
    rec.jobStats = stable(jobStats);

    const last = await worker.reserve();
    await worker.delete(last.id);
    rec.peekDeleted = await producer.peek(last.id).then(
      () => "found",
      (e: Error) => e.message,
    );
    expect(String(rec.peekDeleted)).toContain("NOT_FOUND");
    rec.timedOut = await worker.reserveWithTimeout(0).then(
      (j) => j.id,
      (e: Error) => e.message,
    );
    await worker.reserveWithTimeout(0).then(
      (j) => worker.delete(j.id),
      () => undefined,
    );
    // Not producer.pauseTube(): jackd 2.2.2 sends "pause-tube <tube> <delay>" without
    // the CRLF, so it hangs against any server (beanstalkd included).
    expect(await producer.listTubeUsed()).toBe("emails");
    rec.tubes = yamlList(await producer.listTubes("" as never));
    rec.stats = stable(yamlMap(await producer.stats("" as never)));
  } finally {
    await producer.disconnect();
    await worker.disconnect();
  }
  return rec;
}

/** A fivebeans call as a promise; rejects with the server's word (e.g. "NOT_FOUND"). */
function fb<T extends unknown[]>(call: (cb: (err: string | Error | null, ...res: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) =>
    call((err, ...res) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(res))),
  );
}

async function fivebeansConnect(port: number): Promise<InstanceType<typeof fivebeans.client>> {
  const c = new fivebeans.client("127.0.0.1", port);
  await new Promise<void>((resolve, reject) => {
    c.once("connect", () => resolve());
    c.once("error", reject);
    c.connect();
  });
  return c;
}

async function fivebeansFlow(port: number): Promise<Rec> {
  const rec: Rec = {};
  const c = await fivebeansConnect(port);
  const w = await fivebeansConnect(port);
  try {
    expect(await fb<[string]>((cb) => c.use("fb", cb))).toEqual(["fb"]);
    const [id1] = await fb<[string]>((cb) => c.put(100, 0, 30, "first", cb));
    const [id2] = await fb<[string]>((cb) => c.put(1, 0, 30, Buffer.from("second\r\nline"), cb));
    const [id3] = await fb<[string]>((cb) => c.put(0, 60, 30, "delayed", cb));
    rec.ids = [id1, id2, id3];
    expect(await fb<[string]>((cb) => w.watch("fb", cb))).toEqual(["2"]);
    expect(await fb<[string]>((cb) => w.ignore("default", cb))).toEqual(["1"]);
    rec.watched = (await fb<[string[]]>((cb) => w.list_tubes_watched(cb)))[0];
    rec.used = (await fb<[string]>((cb) => c.list_tube_used(cb)))[0];

    const [rid, payload] = await fb<[string, Buffer]>((cb) => w.reserve(cb));
    expect(rid).toBe(id2);
    expect(payload.toString()).toBe("second\r\nline");
    await fb((cb) => w.touch(rid, cb));
    await fb((cb) => w.release(rid, 2, 0, cb));
    const [rid2] = await fb<[string, Buffer]>((cb) => w.reserve_with_timeout(1, cb));
    expect(rid2).toBe(id2);
    await fb((cb) => w.bury(rid2, 3, cb));
    rec.peekBuried = (await fb<[string, Buffer]>((cb) => c.peek_buried(cb))).map(String);
    rec.peekDelayed = (await fb<[string, Buffer]>((cb) => c.peek_delayed(cb))).map(String);
    rec.peekReady = (await fb<[string, Buffer]>((cb) => c.peek_ready(cb))).map(String);
    rec.peek = (await fb<[string, Buffer]>((cb) => c.peek(id1, cb))).map(String);
    expect(await fb<[string]>((cb) => c.kick(5, cb))).toEqual(["1"]);
    await fb((cb) => c.kick_job(id3, cb));
    rec.jobStats = stable((await fb<[Rec]>((cb) => c.stats_job(id2, cb)))[0]);
    expect(rec.jobStats).toMatchObject({ id: Number(id2), tube: "fb", state: "ready", buries: 1, kicks: 1, releases: 1 });
    rec.tubeStats = stable((await fb<[Rec]>((cb) => c.stats_tube("fb", cb)))[0]);
    expect(rec.tubeStats).toMatchObject({ name: "fb", "current-jobs-ready": 3, "total-jobs": 3 });

    const drained: string[] = [];
    for (let i = 0; i < 3; i++) {
      const [id, body] = await fb<[string, Buffer]>((cb) => w.reserve(cb));
      drained.push(`${id}:${body.toString()}`);
      await fb((cb) => w.destroy(id, cb));
    }
    rec.drained = drained;
    rec.reserveEmpty = await fb((cb) => w.reserve_with_timeout(0, cb)).then(
      () => "job",
      (e: Error) => e.message,
    );
    expect(rec.reserveEmpty).toBe("TIMED_OUT");
    rec.deleteAgain = await fb((cb) => w.destroy(id1, cb)).then(
      () => "deleted",
      (e: Error) => e.message,
    );
    expect(rec.deleteAgain).toBe("NOT_FOUND");
    await fb((cb) => c.pause_tube("fb", 0, cb));
    rec.tubes = (await fb<[string[]]>((cb) => c.list_tubes(cb)))[0];
    rec.stats = stable((await fb<[Rec]>((cb) => c.stats(cb)))[0]);
    expect(rec.stats).toMatchObject({ "cmd-put": 3, "cmd-delete": 4, "total-jobs": 3, "current-jobs-ready": 0 });
  } finally {
    c.end();
    w.end();
  }
  return rec;
}

const flows: [string, (port: number) => Promise<Rec>][] = [
  ["jackd", jackdFlow],
  ["fivebeans", fivebeansFlow],
];

for (const [lib, flow] of flows) {
  describe(`${lib}`, () => {
    const results: Record<string, Rec> = {};
    const targets: [string, () => Promise<ServerProcess>][] = [["beanrun", () => startOurs()]];
    if (BEANSTALKD) targets.push(["beanstalkd", () => startReference()]);
    for (const [name, start] of targets) {
      test(`drives ${name}: put, reserve, touch, release, bury, kick, kick-job, peek, delete, stats`, async () => {
        const server = await start();
        try {
          results[name] = await flow(server.port);
        } finally {
          await server.stop();
        }
      });
    }
    test.skipIf(!BEANSTALKD)("hands back the same results from beanrun as from beanstalkd", () => {
      expect(results.beanrun).toBeDefined();
      expect(results.beanstalkd).toBeDefined();
      expect(results.beanrun).toEqual(results.beanstalkd!);
    });
  });
}

describe("jackd under load", () => {
  test("200 concurrent puts from one client come back in priority order (beanrun)", async () => {
    const server = await startOurs();
    const c = new Jackd();
    await c.connect({ host: "127.0.0.1", port: server.port });
    try {
      await c.use("bulk");
      await c.watch("bulk");
      await c.ignore("default");
      const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => c.put(`job ${i}`, { priority: 200 - i })));
      expect(new Set(ids).size).toBe(200);
      for (let i = 199; i >= 0; i--) {
        const j = await c.reserve();
        expect(j.payload.toString()).toBe(`job ${i}`);
        await c.delete(j.id);
      }
      expect(await c.reserveWithTimeout(0).catch((e: Error) => e.message)).toContain("TIMED_OUT");
    } finally {
      await c.disconnect();
      await server.stop();
    }
  });
});
