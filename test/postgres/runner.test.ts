/**
 * The job runner over the PostgreSQL store: two `beanrun run --store`
 * processes (two machines' worth) with the same jobs directory share one
 * queue. Every job runs exactly once across both, a failing handler's
 * retries wait out their delays in the database (delayed, then promoted by a
 * sweep) and it ends buried with its reason, whichever runner took each
 * attempt.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ev, FIXTURES, put, type Runner, startRunner } from "../runner/support.ts";
import { POSTGRES } from "./cluster.ts";
import { fileCluster } from "./file-cluster.ts";

const pg = fileCluster();

describe.skipIf(!POSTGRES)("beanrun run --store postgres", () => {
  test("two runners on one database: each job runs once, retries and dead letters work across them", async () => {
    const url = await pg.cluster.database();
    const args = ["--jobs", join(FIXTURES, "basic"), "-p", "0", "--grace", "2", "--store", url];
    const runners: Runner[] = await Promise.all([startRunner(args), startRunner(args)]);
    pg.stopAfter(...runners);
    const c = await runners[0]!.client();
    try {
      const ids: number[] = [];
      for (let n = 0; n < 40; n++) ids.push(await put(c, "ok", { n }));
      const failing = await put(c, "fail", {});
      const done = (id: number) => runners.flatMap((r) => r.events.filter(ev("job.done", id)));
      const deadline = Date.now() + 30_000;
      while (ids.some((id) => done(id).length === 0) && Date.now() < deadline) await Bun.sleep(100);
      // Exactly once each, whichever runner's worker reserved it.
      expect(ids.map((id) => done(id).length)).toEqual(ids.map(() => 1));
      const per = runners.map((r) => r.events.filter((e) => e.type === "job.done" && ids.includes(e.id!)).length);
      expect(per[0]! + per[1]!).toBe(40);
      // The failing job: retried with its delays (1 s, 2 s), then buried as failed, possibly by either runner.
      const buried = await Promise.any(runners.map((r) => r.waitFor(ev("job.buried", failing), 20_000, "buried")));
      expect(buried).toMatchObject({ reason: "failed", attempt: 3, error: { message: "boom on attempt 3" } });
      const retries = runners.flatMap((r) => r.events.filter(ev("job.retry", failing))).sort((a, b) => a.attempt! - b.attempt!);
      expect(retries.map((e) => [e.attempt, e.delay])).toEqual([
        [1, 1],
        [2, 2],
      ]);
      const st = await c.statsJob(failing);
      expect(st.state).toBe("buried");
      expect(st.releases).toBe(2);
      console.log(`jobs done per runner: ${per.join(" + ")}`);
    } finally {
      c.close();
    }
  }, 90_000);
});
