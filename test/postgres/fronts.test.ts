/**
 * Several front ends over one database, each a real `serve --store` process:
 * a reserve waiting on B gets a job put through A (wake-up latency printed,
 * p50/p99, not asserted: the machine is shared), 8 reservers over 3 front
 * ends never get the same job, and faults under load: a front end killed
 * with -9 (the others keep serving, its reservations come back through its
 * lease, long before their TTR), PostgreSQL restarted cleanly and as in a
 * crash (front ends reconnect; whatever was acknowledged holds: no
 * acknowledged put lost, no acknowledged delete resurrected), and every
 * connection of the front ends cut by the database (pg_terminate_backend),
 * in the middle of batches and while idle. No command may be left without a
 * reply.
 */
import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { type ServerProcess, startOurs } from "../support/servers.ts";
import { CLOSED, NONE, Wire } from "../support/wire.ts";
import { POSTGRES } from "./cluster.ts";
import { fileCluster } from "./file-cluster.ts";

const pg = fileCluster();

async function fronts(n: number, url?: string): Promise<{ url: string; fe: ServerProcess[] }> {
  const u = url ?? (await pg.cluster.database());
  const fe = await Promise.all(Array.from({ length: n }, () => startOurs(["--store", u])));
  pg.stopAfter(...fe);
  return { url: u, fe };
}

const idOf = (r: string) => Number(/^(?:INSERTED|RESERVED) (\d+)/.exec(r)?.[1] ?? NaN);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

/** Waits (polling a command, generously) until `check` holds. */
async function eventually(fn: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await Bun.sleep(200);
  }
  return false;
}

describe.skipIf(!POSTGRES)("front ends sharing one PostgreSQL queue", () => {
  test("a reserve waiting on B gets a job put through A (wake-up latency)", async () => {
    const { fe } = await fronts(2);
    const a = await Wire.open(fe[0]!.port);
    const b = await Wire.open(fe[1]!.port);
    const ms: number[] = [];
    for (let i = 0; i < 40; i++) {
      b.send("reserve\r\n");
      // Let B's reserve reach the database and start waiting.
      expect(await b.expectNone(30)).toBe(true);
      const t0 = performance.now();
      const put = await a.cmd(`put 0 0 60 1\r\n${i % 10}\r\n`, 10_000);
      const got = await b.reply(10_000);
      ms.push(performance.now() - t0);
      expect(idOf(got)).toBe(idOf(put));
      expect(await b.cmd(`delete ${idOf(got)}\r\n`)).toBe("DELETED\r\n");
    }
    console.log(
      `put on A -> RESERVED on B: p50 ${pct(ms, 50).toFixed(1)} ms, p99 ${pct(ms, 99).toFixed(1)} ms (${ms.length} rounds, shared machine)`,
    );
    a.close();
    b.close();
  }, 120_000);

  test("a tube only used or watched through A exists on B: list-tubes, stats-tube, pause-tube; gone when A's connection closes", async () => {
    const { fe } = await fronts(2);
    const a = await Wire.open(fe[0]!.port);
    const b = await Wire.open(fe[1]!.port);
    expect(await a.cmd("use only-on-a\r\n")).toBe("USING only-on-a\r\n");
    expect(await a.cmd("watch watched-on-a\r\n")).toBe("WATCHING 2\r\n");
    // A records its references without delaying its replies: wait for B to see them.
    const listed = async (name: string) => (await b.cmd("list-tubes\r\n")).includes(`\n- ${name}\n`);
    expect(await eventually(async () => (await listed("only-on-a")) && (await listed("watched-on-a")), 30_000)).toBe(true);
    expect(await b.cmd("stats-tube only-on-a\r\n")).toMatch(/^OK \d+\r\n---\nname: "only-on-a"\n/);
    expect(await b.cmd("pause-tube watched-on-a 0\r\n")).toBe("PAUSED\r\n");
    expect(await b.cmd("stats\r\n")).toMatch(/\ncurrent-tubes: 3\n/);
    a.close();
    expect(await eventually(async () => !(await listed("only-on-a")) && !(await listed("watched-on-a")), 30_000)).toBe(true);
    expect(await b.cmd("stats-tube only-on-a\r\n")).toBe("NOT_FOUND\r\n");
    b.close();
  }, 90_000);

  test("8 reservers over 3 front ends never get the same job", async () => {
    const { fe } = await fronts(3);
    const producer = await Wire.open(fe[0]!.port);
    const N = 300;
    const put = new Set<number>();
    for (let i = 0; i < N; i++)
      put.add(idOf(await producer.cmd(`put ${i % 7} 0 60 3\r\nj${String(i % 100).padStart(2, "0")}\r\n`, 10_000)));
    const seen = new Map<number, number>();
    const workers = await Promise.all(Array.from({ length: 8 }, (_, k) => Wire.open(fe[k % 3]!.port)));
    await Promise.all(
      workers.map(async (w, k) => {
        for (;;) {
          const r = await w.cmd("reserve-with-timeout 1\r\n", 15_000);
          if (r === "TIMED_OUT\r\n") return;
          const id = idOf(r);
          expect(Number.isNaN(id)).toBe(false);
          expect(seen.has(id)).toBe(false);
          seen.set(id, k);
          expect(await w.cmd(`delete ${id}\r\n`, 10_000)).toBe("DELETED\r\n");
        }
      }),
    );
    expect(seen.size).toBe(N);
    for (const id of put) expect(seen.has(id)).toBe(true);
    // Every front end's workers took part.
    expect(new Set([...seen.values()].map((k) => k % 3)).size).toBe(3);
    for (const w of workers) w.close();
    producer.close();
  }, 120_000);

  /**
   * Producers and consumers on every front end; records only what was
   * acknowledged, and commands left without any reply for 20 s (a fault must
   * get them an error reply, INTERNAL_ERROR, not silence).
   */
  function load(ports: number[], stopAt: () => boolean) {
    const acked = new Set<number>();
    const deleted = new Set<number>();
    const errors: string[] = [];
    const unanswered: string[] = [];
    const one = async (port: number, k: number) => {
      const w = await Wire.open(port);
      try {
        while (!stopAt()) {
          const body = `job-${k}`;
          const r = await w.cmd(`put 0 0 120 ${body.length}\r\n${body}\r\n`, 20_000);
          if (r === CLOSED) return;
          if (r.startsWith("INSERTED")) acked.add(idOf(r));
          else if (r !== "INTERNAL_ERROR\r\n" && r !== NONE) errors.push(`put: ${r}`);
          if (r === NONE) unanswered.push("put");
          const g = await w.cmd("reserve-with-timeout 0\r\n", 20_000);
          if (g === CLOSED) return;
          if (g === NONE) unanswered.push("reserve");
          if (!g.startsWith("RESERVED")) continue;
          const d = await w.cmd(`delete ${idOf(g)}\r\n`, 20_000);
          if (d === CLOSED) return;
          if (d === NONE) unanswered.push("delete");
          if (d === "DELETED\r\n") deleted.add(idOf(g));
        }
      } finally {
        w.close();
      }
    };
    const done = Promise.all(ports.flatMap((p, i) => [one(p, i * 2), one(p, i * 2 + 1)]));
    return { acked, deleted, errors, unanswered, done };
  }

  /**
   * Every acknowledged put is still there or was deleted; no acknowledged
   * delete came back. A job gone without an acknowledged delete is allowed
   * only for deletes whose reply was lost in flight (at most one per client).
   */
  async function verify(port: number, acked: Set<number>, deleted: Set<number>, clients: number): Promise<void> {
    const w = await Wire.open(port);
    let goneUnacked = 0;
    for (const id of acked) {
      const r = await w.cmd(`peek ${id}\r\n`, 10_000);
      if (deleted.has(id)) expect(`${id}: ${r}`).toBe(`${id}: NOT_FOUND\r\n`);
      else if (r === "NOT_FOUND\r\n") goneUnacked++;
      else expect(r.startsWith(`FOUND ${id} `)).toBe(true);
    }
    expect(goneUnacked).toBeLessThanOrEqual(clients);
    w.close();
  }

  test("kill -9 one front end under load: the others serve on, its reservations come back by its lease", async () => {
    const { fe } = await fronts(3);
    const [a, b, c] = fe as [ServerProcess, ServerProcess, ServerProcess];
    let stop = false;
    const l = load([a.port, b.port, c.port], () => stop);
    await Bun.sleep(1500);
    // C holds a reservation (TTR 120 s) when it dies.
    const held = await Wire.open(c.port);
    expect(await held.cmd("use held\r\n")).toBe("USING held\r\n");
    const id = idOf(await held.cmd("put 0 0 120 4\r\nheld\r\n", 10_000));
    expect(await held.cmd(`reserve-job ${id}\r\n`, 10_000)).toBe(`RESERVED ${id} 4\r\nheld\r\n`);
    await c.kill();
    await Bun.sleep(1500);
    stop = true;
    await l.done;
    expect(l.errors).toEqual([]);
    expect(l.unanswered).toEqual([]);
    expect(l.acked.size).toBeGreaterThan(0);
    // A and B still serve.
    const w = await Wire.open(a.port);
    expect(await w.cmd("put 0 0 60 2\r\nok\r\n", 10_000)).toMatch(/^INSERTED/);
    // The dead front end's reservation is ready again well before its 120 s TTR.
    const t0 = Date.now();
    const back = await eventually(async () => /state: ready/.test(await w.cmd(`stats-job ${id}\r\n`, 10_000)), 60_000);
    expect(back).toBe(true);
    console.log(`reservation of a killed front end back after ${((Date.now() - t0) / 1000).toFixed(1)} s (lease 10 s, TTR 120 s)`);
    await verify(a.port, l.acked, l.deleted, 6);
    w.close();
  }, 150_000);

  test("connections cut by the database under load and while idle: front ends reconnect, nothing acknowledged is lost", async () => {
    const { url, fe } = await fronts(2);
    const admin = postgres(pg.cluster.url(), { max: 1, onnotice: () => {} });
    const db = new URL(url).pathname.slice(1);
    const cut = () =>
      admin`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = ${db} and pid <> pg_backend_pid()`;
    try {
      let stop = false;
      const l = load(
        fe.map((f) => f.port),
        () => stop,
      );
      await Bun.sleep(1000);
      // Under load: batches in flight on some lanes, others idle; the LISTEN connections too.
      expect((await cut())[0]!.n).toBeGreaterThan(2);
      await Bun.sleep(1000);
      expect((await cut())[0]!.n).toBeGreaterThan(2);
      await Bun.sleep(1000);
      stop = true;
      await l.done;
      expect(l.errors).toEqual([]);
      expect(l.unanswered).toEqual([]);
      // While idle: every lane's connection is gone before the next command uses it.
      await Bun.sleep(300);
      await cut();
      await Bun.sleep(300);
      for (const f of fe) {
        const w = await Wire.open(f.port);
        expect(await w.cmd("use after-cut\r\n")).toBe("USING after-cut\r\n");
        expect(await w.cmd("watch after-cut\r\n")).toBe("WATCHING 2\r\n");
        expect(await w.cmd("ignore default\r\n")).toBe("WATCHING 1\r\n");
        const t0 = Date.now();
        const ok = await eventually(async () => (await w.cmd("put 0 0 60 2\r\nok\r\n", 10_000)).startsWith("INSERTED"), 30_000);
        expect(ok).toBe(true);
        console.log(`front end serving again ${Date.now() - t0} ms after its idle connections were cut`);
        const r = await w.cmd("reserve-with-timeout 5\r\n", 10_000);
        expect(r).toMatch(/^RESERVED \d+ 2\r\nok\r\n$/);
        expect(await w.cmd(`delete ${idOf(r)}\r\n`, 10_000)).toBe("DELETED\r\n");
        w.close();
      }
      await verify(fe[0]!.port, l.acked, l.deleted, 4);
    } finally {
      await admin.end();
    }
  }, 150_000);

  // fast: PostgreSQL ends its sessions and shuts down cleanly; immediate: it stops at once, like a crash, and recovers from its WAL.
  test.each(["fast", "immediate"] as const)(
    "PostgreSQL restarted (%s) under load: front ends reconnect, nothing acknowledged is lost or resurrected",
    async (mode) => {
      const { fe } = await fronts(2);
      let stop = false;
      const l = load(
        fe.map((f) => f.port),
        () => stop,
      );
      await Bun.sleep(1500);
      const t0 = Date.now();
      await pg.cluster.restart(mode);
      console.log(`PostgreSQL restarted (${mode}) in ${Date.now() - t0} ms`);
      await Bun.sleep(2000);
      stop = true;
      await l.done;
      expect(l.errors).toEqual([]);
      expect(l.unanswered).toEqual([]);
      // Both front ends serve again (the pool reconnects).
      for (const f of fe) {
        const w = await Wire.open(f.port);
        const ok = await eventually(async () => (await w.cmd("put 0 0 60 2\r\nok\r\n", 10_000)).startsWith("INSERTED"), 30_000);
        expect(ok).toBe(true);
        w.close();
      }
      await verify(fe[0]!.port, l.acked, l.deleted, 4);
      // A waiting reserve on one front end still wakes for a put on the other (LISTEN came back).
      const b = await Wire.open(fe[1]!.port);
      expect(await b.cmd("watch after-restart\r\n")).toBe("WATCHING 2\r\n");
      expect(await b.cmd("ignore default\r\n")).toBe("WATCHING 1\r\n");
      b.send("reserve\r\n");
      const a = await Wire.open(fe[0]!.port);
      await a.cmd("use after-restart\r\n");
      const put = await a.cmd("put 0 0 60 1\r\nx\r\n", 10_000);
      expect(idOf(await b.reply(15_000))).toBe(idOf(put));
      a.close();
      b.close();
    },
    150_000,
  );
});
