/**
 * The PostgreSQL store under Deno: a front end run by Deno and one run by Bun
 * share one database (the same postgres.js driver under both runtimes). A
 * reserve waiting on either gets a job put through the other (LISTEN/NOTIFY
 * across runtimes), and the cluster-wide counts agree.
 */
import { describe, expect, test } from "bun:test";
import { startDeno, startOurs } from "../support/servers.ts";
import { Wire } from "../support/wire.ts";
import { POSTGRES } from "./cluster.ts";
import { fileCluster } from "./file-cluster.ts";

const pg = fileCluster();

const idOf = (r: string) => Number(/^(?:INSERTED|RESERVED) (\d+)/.exec(r)?.[1] ?? NaN);

describe.skipIf(!POSTGRES)("--store postgres under Deno", () => {
  test("a Deno front end and a Bun front end share one queue", async () => {
    const url = await pg.cluster.database();
    const [deno, bun] = await Promise.all([startDeno(["--store", url]), startOurs(["--store", url])]);
    pg.stopAfter(deno, bun);
    for (const [from, to] of [
      [deno, bun],
      [bun, deno],
    ] as const) {
      const waiter = await Wire.open(to.port);
      expect(await waiter.cmd("watch shared\r\n")).toBe("WATCHING 2\r\n");
      waiter.send("reserve\r\n");
      // The reserve reaches the database and waits before the put.
      expect(await waiter.expectNone(200)).toBe(true);
      const producer = await Wire.open(from.port);
      expect(await producer.cmd("use shared\r\n")).toBe("USING shared\r\n");
      const put = await producer.cmd("put 5 0 60 5\r\nhello\r\n", 10_000);
      expect(put).toMatch(/^INSERTED \d+\r\n$/);
      expect(await waiter.reply(10_000)).toBe(`RESERVED ${idOf(put)} 5\r\nhello\r\n`);
      // Both front ends count the reservation, cluster-wide.
      for (const fe of [deno, bun]) {
        const w = await Wire.open(fe.port);
        const st = await w.cmd("stats-tube shared\r\n", 10_000);
        expect(st).toContain("current-jobs-reserved: 1\n");
        expect(st).toContain("current-jobs-ready: 0\n");
        w.close();
      }
      expect(await waiter.cmd(`delete ${idOf(put)}\r\n`, 10_000)).toBe("DELETED\r\n");
      producer.close();
      waiter.close();
    }
  }, 120_000);
});
