/** What comes back after a restart: every job state, delays, ids, counters, tubes, stats. */
import { afterAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { launchWithLog } from "../support/servers.ts";
import { removeDir, tempDir } from "../support/temp.ts";
import { Wire } from "../support/wire.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));
function dir(): string {
  const d = tempDir("recovery");
  dirs.push(d);
  return d;
}

async function up(d: string, args = ["-f", "0"]) {
  const r = await launchWithLog(d, args);
  if (!r.server) throw new Error(`server did not start: ${r.stderr}`);
  return { srv: r.server, c: await Wire.open(r.server.port), stderr: r.stderr };
}

for (const how of ["kill -9", "SIGTERM"] as const) {
  test(`every job state comes back after ${how}`, async () => {
    const d = dir();
    let { srv, c } = await up(d);
    expect((await c.request("use emails")).line).toBe("USING emails");
    expect((await c.put("ready job", 10)).line).toBe("INSERTED 1");
    expect((await c.put("delayed job", 20, 6)).line).toBe("INSERTED 2");
    expect((await c.put("to bury", 30)).line).toBe("INSERTED 3");
    expect((await c.put("to reserve", 40)).line).toBe("INSERTED 4");
    expect((await c.put("released with delay", 50)).line).toBe("INSERTED 5");
    expect((await c.put("kicked", 60)).line).toBe("INSERTED 6");
    expect((await c.put("deleted", 70)).line).toBe("INSERTED 7");
    expect((await c.put(Buffer.from([0, 13, 10, 255, 1]), 80, 0, 9)).line).toBe("INSERTED 8");
    await c.request("watch emails");
    await c.request("ignore default");
    // Reserve in priority order: 1 (10), 3 (30), 4 (40), 5 (50), 6 (60).
    expect((await c.request("reserve-job 3")).line).toMatch(/^RESERVED 3 /);
    expect((await c.request("bury 3 33")).line).toBe("BURIED");
    expect((await c.request("reserve-job 4")).line).toMatch(/^RESERVED 4 /);
    expect((await c.request("reserve-job 5")).line).toMatch(/^RESERVED 5 /);
    expect((await c.request("release 5 55 100")).line).toBe("RELEASED");
    expect((await c.request("reserve-job 6")).line).toMatch(/^RESERVED 6 /);
    expect((await c.request("bury 6 66")).line).toBe("BURIED");
    expect((await c.request("kick-job 6")).line).toBe("KICKED");
    expect((await c.request("delete 7")).line).toBe("DELETED");
    c.close();
    await Bun.sleep(1100); // ages and remaining delays move on
    if (how === "kill -9") await srv.kill();
    else expect(await srv.stop()).toBe(0);

    ({ srv, c } = await up(d));
    const want: Record<number, [string, number, string]> = {
      1: ["ready", 10, "ready job"],
      2: ["delayed", 20, "delayed job"],
      3: ["buried", 33, "to bury"],
      4: ["ready", 40, "to reserve"], // reserved jobs come back ready
      5: ["delayed", 55, "released with delay"],
      6: ["ready", 66, "kicked"],
    };
    for (const [id, [state, pri, body]] of Object.entries(want)) {
      const s = await c.statsJob(Number(id));
      expect(s).not.toBeNull();
      expect(s!.state).toBe(state);
      expect(Number(s!.pri)).toBe(pri);
      expect(s!.tube).toBe("emails");
      expect(Number(s!.age)).toBeGreaterThanOrEqual(1);
      const p = await c.request(`peek ${id}`);
      expect(p.body!.toString()).toBe(body);
    }
    expect((await c.request("peek 7")).line).toBe("NOT_FOUND");
    const bin = await c.request("peek 8");
    expect([...bin.body!]).toEqual([0, 13, 10, 255, 1]);
    expect((await c.statsJob(8))!.ttr).toBe("9");
    // Counters survive.
    const s3 = (await c.statsJob(3))!;
    expect([s3.reserves, s3.buries]).toEqual(["1", "1"]);
    const s5 = (await c.statsJob(5))!;
    expect([s5.reserves, s5.releases, s5.delay]).toEqual(["1", "1", "100"]);
    expect(Number(s5["time-left"])).toBeGreaterThan(90);
    expect(Number(s5["time-left"])).toBeLessThanOrEqual(99);
    const s6 = (await c.statsJob(6))!;
    expect([s6.reserves, s6.buries, s6.kicks]).toEqual(["1", "1", "1"]);
    // The delay of job 2 (6 s; generous, for a loaded machine) kept running while the server was down.
    expect(Number((await c.statsJob(2))!["time-left"])).toBeLessThanOrEqual(5);
    // Ids continue above the highest seen, including deleted ones.
    expect((await c.put("after restart")).line).toBe("INSERTED 9");
    const st = await c.stats();
    expect(st["current-jobs-ready"]).toBe("5"); // 1, 4, 6, 8 and 9
    expect(st["current-jobs-delayed"]).toBe("2");
    expect(st["current-jobs-buried"]).toBe("1");
    expect(Number(st["binlog-current-index"])).toBeGreaterThanOrEqual(1); // records continue in the newest file
    expect(Number(st["binlog-records-written"])).toBeGreaterThanOrEqual(1);
    expect(st["binlog-max-size"]).toBe("10485760");
    // The delayed job becomes ready after the restart.
    for (let i = 0; i < 100 && (await c.statsJob(2))!.state !== "ready"; i++) await Bun.sleep(100);
    expect((await c.statsJob(2))!.state).toBe("ready");
    c.close();
    await srv.stop();
  }, 30_000);
}

test("ids continue even when every job was deleted and old files were removed", async () => {
  const d = dir();
  let { srv, c } = await up(d, ["-f", "0", "-s", "65536", "-z", "1000"]);
  let last = 0;
  for (let i = 0; i < 2000; i++) {
    const r = await c.put("x".repeat(500));
    last = Number(r.line.split(" ")[1]);
    expect((await c.request(`delete ${last}`)).line).toBe("DELETED");
  }
  c.close();
  await srv.kill();
  ({ srv, c } = await up(d, ["-f", "0", "-s", "65536", "-z", "1000"]));
  expect((await c.put("next")).line).toBe(`INSERTED ${last + 1}`);
  c.close();
  await srv.kill();
  // Twice: the file written at the first restart holds the id too.
  ({ srv, c } = await up(d, ["-f", "0", "-s", "65536", "-z", "1000"]));
  expect((await c.put("next")).line).toBe(`INSERTED ${last + 2}`);
  c.close();
  await srv.stop();
}, 120_000);

for (const mode of [["-f", "200"], ["-F"]]) {
  test(`with ${mode.join(" ")} replies are sent once the records are written: kill -9 loses nothing`, async () => {
    const d = dir();
    let { srv, c } = await up(d, mode);
    const ids: number[] = [];
    const puts = [];
    for (let i = 0; i < 500; i++) puts.push(c.put(`job ${i}`, i));
    for (const r of await Promise.all(puts)) ids.push(Number(r.line.split(" ")[1]));
    for (let i = 0; i < 500; i += 2) expect((await c.request(`delete ${ids[i]}`)).line).toBe("DELETED");
    await srv.kill();
    ({ srv, c } = await up(d, mode));
    for (let i = 0; i < 500; i++) {
      const r = await c.request(`peek ${ids[i]}`);
      if (i % 2 === 0) expect(r.line).toBe("NOT_FOUND");
      else expect(r.body!.toString()).toBe(`job ${i}`);
    }
    c.close();
    await srv.stop();
  });
}

test("-f MS: an idle server keeps what it acknowledged", async () => {
  // (That the fsync itself happens within MS ms cannot be seen with kill -9,
  // which keeps the page cache; wal.ts arms a timer on the first unsynced write.)
  const d = dir();
  let { srv, c } = await up(d, ["-f", "100"]);
  expect((await c.put("idle")).line).toBe("INSERTED 1");
  await Bun.sleep(300);
  await srv.kill();
  ({ srv, c } = await up(d, ["-f", "100"]));
  expect((await c.request("peek 1")).body!.toString()).toBe("idle");
  expect(readdirSync(d).filter((n) => n.startsWith("wal.")).length).toBeGreaterThan(0);
  c.close();
  await srv.stop();
});
