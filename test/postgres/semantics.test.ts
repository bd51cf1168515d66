/**
 * beanstalkd's semantics through one PostgreSQL-backed front end (`serve
 * --store`), over real sockets against a throwaway cluster: priorities then
 * ids across watched tubes, delays, TTR and DEADLINE_SOON, bury/kick,
 * pause-tube, reserve-with-timeout, watch/ignore, peek*, stats-job,
 * stats-tube, and a closing connection giving back its reservations. Every
 * test has a database of its own. Waits are for replies, with generous
 * timeouts; nothing asserts on how fast the machine is.
 */
import { describe, expect, test } from "bun:test";
import { startOurs } from "../support/servers.ts";
import { Wire } from "../support/wire.ts";
import { POSTGRES } from "./cluster.ts";
import { fileCluster } from "./file-cluster.ts";

const pg = fileCluster();

async function front(url?: string): Promise<{ port: number; url: string }> {
  const u = url ?? (await pg.cluster.database());
  const s = await startOurs(["--store", u]);
  pg.stopAfter(s);
  return { port: s.port, url: u };
}

const put = (w: Wire, body: string, pri = 0, delay = 0, ttr = 60) => w.cmd(`put ${pri} ${delay} ${ttr} ${body.length}\r\n${body}\r\n`);
const field = (yaml: string, key: string) => new RegExp(`\\n${key}: "?([^"\\n]*)"?\\n`).exec(yaml)?.[1];

describe.skipIf(!POSTGRES)("one PostgreSQL-backed front end", () => {
  test("a paused tube holds only its own jobs: other watched tubes still serve", async () => {
    const { port } = await front();
    const w = await Wire.open(port);
    expect(await w.cmd("use held\r\n")).toBe("USING held\r\n");
    await put(w, "h", 0);
    expect(await w.cmd("use free\r\n")).toBe("USING free\r\n");
    await put(w, "f", 5);
    expect(await w.cmd("pause-tube held 60\r\n")).toBe("PAUSED\r\n");
    expect(await w.cmd("watch held\r\n")).toBe("WATCHING 2\r\n");
    expect(await w.cmd("watch free\r\n")).toBe("WATCHING 3\r\n");
    expect(await w.cmd("reserve-with-timeout 0\r\n")).toMatch(/^RESERVED \d+ 1\r\nf\r\n$/);
    expect(await w.cmd("reserve-with-timeout 0\r\n")).toBe("TIMED_OUT\r\n");
    w.close();
  }, 30_000);

  test("priorities, then ids, across watched tubes", async () => {
    const { port } = await front();
    const w = await Wire.open(port);
    expect(await w.cmd("use a\r\n")).toBe("USING a\r\n");
    const a1 = await put(w, "a1", 5);
    const a2 = await put(w, "a2", 1);
    expect(await w.cmd("use b\r\n")).toBe("USING b\r\n");
    const b1 = await put(w, "b1", 1);
    await put(w, "b2", 0);
    const id = (r: string) => Number(/INSERTED (\d+)/.exec(r)![1]);
    expect(await w.cmd("watch a\r\n")).toBe("WATCHING 2\r\n");
    expect(await w.cmd("watch b\r\n")).toBe("WATCHING 3\r\n");
    expect(await w.cmd("ignore default\r\n")).toBe("WATCHING 2\r\n");
    const got: string[] = [];
    for (let i = 0; i < 4; i++) got.push(/RESERVED \d+ \d+\r\n(\w+)/.exec(await w.cmd("reserve\r\n"))![1]!);
    expect(got).toEqual(["b2", "a2", "b1", "a1"]);
    expect(id(a2)).toBeLessThan(id(b1));
    expect(await w.cmd("reserve-with-timeout 0\r\n")).toBe("TIMED_OUT\r\n");
    expect(await w.cmd("ignore a\r\n")).toBe("WATCHING 1\r\n");
    expect(await w.cmd("ignore b\r\n")).toBe("NOT_IGNORED\r\n");
    expect(id(a1)).toBeGreaterThan(0);
    w.close();
  }, 30_000);

  test("delays, peeks, bury and kick, kick-job, stats-job, stats-tube", async () => {
    const { port } = await front();
    const w = await Wire.open(port);
    const d = /INSERTED (\d+)/.exec(await put(w, "later", 10, 1))![1];
    expect(await w.cmd("peek-ready\r\n")).toBe("NOT_FOUND\r\n");
    expect(await w.cmd("peek-delayed\r\n")).toBe(`FOUND ${d} 5\r\nlater\r\n`);
    expect(field(await w.cmd(`stats-job ${d}\r\n`), "state")).toBe("delayed");
    // The delay runs out on the database's clock; reserve waits for it.
    expect(await w.cmd("reserve-with-timeout 10\r\n", 15_000)).toBe(`RESERVED ${d} 5\r\nlater\r\n`);
    expect(await w.cmd(`bury ${d} 7\r\n`)).toBe("BURIED\r\n");
    expect(await w.cmd("peek-buried\r\n")).toBe(`FOUND ${d} 5\r\nlater\r\n`);
    const st = await w.cmd(`stats-job ${d}\r\n`);
    expect([field(st, "state"), field(st, "pri"), field(st, "reserves"), field(st, "buries"), field(st, "tube")]).toEqual([
      "buried",
      "7",
      "1",
      "1",
      "default",
    ]);
    const tube = await w.cmd("stats-tube default\r\n");
    expect([field(tube, "current-jobs-buried"), field(tube, "current-jobs-ready"), field(tube, "total-jobs")]).toEqual(["1", "0", "1"]);
    expect(await w.cmd("kick 10\r\n")).toBe("KICKED 1\r\n");
    expect(field(await w.cmd(`stats-job ${d}\r\n`), "kicks")).toBe("1");
    expect(await w.cmd(`peek ${d}\r\n`)).toBe(`FOUND ${d} 5\r\nlater\r\n`);
    const e = /INSERTED (\d+)/.exec(await put(w, "x", 1, 100))![1];
    expect(await w.cmd(`kick-job ${e}\r\n`)).toBe("KICKED\r\n");
    expect(await w.cmd(`kick-job ${e}\r\n`)).toBe("NOT_FOUND\r\n");
    expect(await w.cmd(`delete ${e}\r\n`)).toBe("DELETED\r\n");
    expect(await w.cmd(`delete ${e}\r\n`)).toBe("NOT_FOUND\r\n");
    expect(await w.cmd(`peek ${e}\r\n`)).toBe("NOT_FOUND\r\n");
    expect(field(await w.cmd("stats-tube default\r\n"), "cmd-delete")).toBe("1");
    expect(await w.cmd("stats-tube nosuch\r\n")).toBe("NOT_FOUND\r\n");
    w.close();
  }, 30_000);

  test("TTR: DEADLINE_SOON, then the job comes back as a timeout", async () => {
    const { port } = await front();
    const w = await Wire.open(port);
    const id = /INSERTED (\d+)/.exec(await put(w, "ttr", 0, 0, 2))![1];
    expect(await w.cmd("reserve\r\n")).toBe(`RESERVED ${id} 3\r\nttr\r\n`);
    // Waiting for another job: the held job's deadline comes first.
    expect(await w.cmd("reserve\r\n", 10_000)).toBe("DEADLINE_SOON\r\n");
    const other = await Wire.open(port);
    expect(await other.cmd("reserve-with-timeout 10\r\n", 15_000)).toBe(`RESERVED ${id} 3\r\nttr\r\n`);
    const st = await other.cmd(`stats-job ${id}\r\n`);
    expect([field(st, "timeouts"), field(st, "reserves")]).toEqual(["1", "2"]);
    // The first connection lost it.
    expect(await w.cmd(`delete ${id}\r\n`)).toBe("NOT_FOUND\r\n");
    expect(await other.cmd(`touch ${id}\r\n`)).toBe("TOUCHED\r\n");
    expect(await other.cmd(`release ${id} 1 0\r\n`)).toBe("RELEASED\r\n");
    expect(field(await other.cmd("stats\r\n"), "job-timeouts")).toBe("1");
    w.close();
    other.close();
  }, 40_000);

  test("pause-tube holds reserves until the pause ends; a closing connection gives its jobs back", async () => {
    const { port } = await front();
    const w = await Wire.open(port);
    const id = /INSERTED (\d+)/.exec(await put(w, "p"))![1];
    expect(await w.cmd("pause-tube default 1\r\n")).toBe("PAUSED\r\n");
    expect(field(await w.cmd("stats-tube default\r\n"), "pause")).toBe("1");
    expect(await w.cmd("reserve-with-timeout 0\r\n")).toBe("TIMED_OUT\r\n");
    expect(await w.cmd("reserve-with-timeout 10\r\n", 15_000)).toBe(`RESERVED ${id} 1\r\np\r\n`);
    w.close();
    const v = await Wire.open(port);
    expect(await v.cmd("reserve-with-timeout 10\r\n", 15_000)).toBe(`RESERVED ${id} 1\r\np\r\n`);
    expect(await v.cmd("pause-tube nosuch 1\r\n")).toBe("NOT_FOUND\r\n");
    v.close();
  }, 40_000);

  test("bad input gets the protocol's replies and loses nothing", async () => {
    const { port } = await front();
    const w = await Wire.open(port);
    expect(await w.cmd("put 1 0 1\r\n")).toBe("BAD_FORMAT\r\n");
    expect(await w.cmd("put 1 0 1 3\r\nabcd\r\n")).toBe("EXPECTED_CRLF\r\n");
    expect(await w.cmd("bogus\r\n")).toBe("UNKNOWN_COMMAND\r\n");
    expect(await w.cmd(`put 1 0 1 70000\r\n${"x".repeat(70000)}\r\n`)).toBe("JOB_TOO_BIG\r\n");
    expect(await w.cmd(`${"x".repeat(300)}\r\n`)).toBe("BAD_FORMAT\r\n");
    const id = /INSERTED (\d+)/.exec(await put(w, "ok"))![1];
    // Pipelined: replies in command order even though they come from batches.
    w.send(`peek ${id}\r\nlist-tube-used\r\ndelete ${id}\r\npeek ${id}\r\n`);
    expect([await w.reply(), await w.reply(), await w.reply(), await w.reply()]).toEqual([
      `FOUND ${id} 2\r\nok\r\n`,
      "USING default\r\n",
      "DELETED\r\n",
      "NOT_FOUND\r\n",
    ]);
    w.close();
  }, 30_000);
});

describe.skipIf(!POSTGRES)("reserve-job", () => {
  test("a job taken by reserve-job comes back when its connection closes", async () => {
    const { port } = await front();
    const w = await Wire.open(port);
    const id = /INSERTED (\d+)/.exec(await put(w, "rj", 0, 0, 120))![1];
    expect(await w.cmd(`reserve-job ${id}\r\n`)).toBe(`RESERVED ${id} 2\r\nrj\r\n`);
    w.close();
    const v = await Wire.open(port);
    expect(await v.cmd("reserve-with-timeout 10\r\n", 15_000)).toBe(`RESERVED ${id} 2\r\nrj\r\n`);
    v.close();
  }, 30_000);
});
