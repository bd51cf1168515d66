/**
 * Existing npm clients work unchanged: the same flow through `jackd` against
 * beanrun and, when installed, against the real beanstalkd.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
// jackd ships CommonJS with its own types.
import Jackd from "jackd";
import { BEANSTALKD, startOurs, startReference, type ServerProcess } from "./support/servers.ts";

const targets: [string, () => Promise<ServerProcess>][] = [["beanrun", () => startOurs()]];
if (BEANSTALKD) targets.push(["beanstalkd", () => startReference()]);

for (const [name, start] of targets) {
  describe(`jackd against ${name}`, () => {
    let server: ServerProcess;
    beforeAll(async () => {
      server = await start();
    });
    afterAll(() => server.stop());

    test("producer and worker flow: put, reserve, release, bury, kick, delete, stats", async () => {
      const producer = new Jackd();
      const worker = new Jackd();
      await producer.connect({ host: "127.0.0.1", port: server.port });
      await worker.connect({ host: "127.0.0.1", port: server.port });
      try {
        expect(await producer.use("emails")).toBe("emails");
        const id = await producer.put({ to: "a@example.com" }, { priority: 10, delay: 0, ttr: 30 });
        expect(Number(id)).toBeGreaterThan(0);
        await worker.watch("emails");
        await worker.ignore("default");

        const job = await worker.reserveWithTimeout(2);
        expect(job.id).toBe(id);
        expect(JSON.parse(job.payload.toString())).toEqual({ to: "a@example.com" });

        await worker.release(job.id, { priority: 5, delay: 0 });
        const again = await worker.reserve();
        expect(again.id).toBe(id);
        await worker.bury(again.id, 7);

        const buried = await producer.peekBuried();
        expect(buried.id).toBe(id);
        expect(await producer.kick(10)).toBe(1);

        const tubeStats = await producer.statsTube("emails");
        expect(tubeStats).toContain("current-jobs-ready: 1");
        const jobStats = await producer.statsJob(id);
        expect(jobStats).toContain("buries: 1");
        expect(jobStats).toContain("releases: 1");

        const last = await worker.reserve();
        await worker.delete(last.id);
        await expect(producer.peek(id)).rejects.toThrow();
        expect(await producer.listTubeUsed()).toBe("emails");
      } finally {
        await producer.disconnect();
        await worker.disconnect();
      }
    });

    test("many concurrent puts from one client come back in priority order", async () => {
      const c = new Jackd();
      await c.connect({ host: "127.0.0.1", port: server.port });
      try {
        await c.use("bulk");
        await c.watch("bulk");
        await c.ignore("default");
        const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => c.put(`job ${i}`, { priority: 200 - i })));
        expect(new Set(ids).size).toBe(200);
        const first = await c.reserve();
        expect(first.payload.toString()).toBe("job 199");
        await c.delete(first.id);
        for (let i = 1; i < 200; i++) {
          const j = await c.reserve();
          await c.delete(j.id);
        }
        expect(await c.reserveWithTimeout(0).catch((e: Error) => e.message)).toContain("TIMED_OUT");
      } finally {
        await c.disconnect();
      }
    });
  });
}
