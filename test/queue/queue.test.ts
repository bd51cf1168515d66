/**
 * Every timing rule of the queue, on a fake clock: delays, TTR expiry and
 * touch, DEADLINE_SOON (at reserve time and for a reserve already waiting),
 * reserve-with-timeout, pauses, and the stats that count down. No sleeps:
 * `advance(ms)` moves time and fires exactly the timers due on the way.
 *
 * Most tests drive the real protocol layer in this process
 * (support/session.ts) and check raw reply bytes, which beanrun shares with
 * beanstalkd (the differential suite is the oracle for those bytes; here the
 * point is *when* they come, to the millisecond). A few drive the Queue
 * directly, through its Result values and read-only counters.
 */
import { describe, expect, test } from "bun:test";
import type { ConnEvents } from "../../runtime/queue/conn.ts";
import { Queue, Result } from "../../runtime/queue/queue.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { type Client, ProtocolHarness } from "../support/session.ts";

/** A field of a YAML reply (`stats-job`, `stats-tube`, `stats`). */
function field(yaml: string, key: string): string {
  const m = new RegExp(`\\n${key}: ([^\\n]*)\\n`).exec(yaml);
  if (!m) throw new Error(`no ${key} in ${JSON.stringify(yaml)}`);
  return m[1]!;
}

const stateOf = (c: Client, id: number) => field(c.cmd(`stats-job ${id}\r\n`), "state");

describe("delays", () => {
  test("a delayed job becomes ready exactly when its delay ends, counting down on the way", () => {
    const h = new ProtocolHarness();
    const c = h.connect();
    expect(c.cmd("put 0 2 10 1\r\na\r\n")).toBe("INSERTED 1\r\n");
    expect(stateOf(c, 1)).toBe("delayed");
    expect(field(c.cmd("stats-job 1\r\n"), "time-left")).toBe("2");
    expect(field(c.cmd("stats\r\n"), "current-jobs-delayed")).toBe("1");
    h.advance(1000);
    expect(field(c.cmd("stats-job 1\r\n"), "time-left")).toBe("1");
    expect(field(c.cmd("stats-job 1\r\n"), "age")).toBe("1");
    h.advance(999);
    expect(c.cmd("peek-ready\r\n")).toBe("NOT_FOUND\r\n");
    h.advance(1);
    expect(c.cmd("peek-ready\r\n")).toBe("FOUND 1 1\r\na\r\n");
    expect(field(c.cmd("stats\r\n"), "current-jobs-delayed")).toBe("0");
    expect(field(c.cmd("stats\r\n"), "current-jobs-ready")).toBe("1");
  });

  test("a delay that ends wakes a waiting reserve at that moment", () => {
    const h = new ProtocolHarness();
    const [p, w] = [h.connect(), h.connect()];
    p.cmd("put 0 3 10 1\r\nx\r\n");
    expect(w.cmd("reserve\r\n")).toBe("");
    h.advance(2999);
    expect(w.take()).toBe("");
    h.advance(1);
    expect(w.take()).toBe("RESERVED 1 1\r\nx\r\n");
  });

  test("delayed jobs in several tubes come due in deadline order", () => {
    const h = new ProtocolHarness();
    const [p, w] = [h.connect(), h.connect()];
    p.cmd("use a\r\n");
    p.cmd("put 0 3 10 1\r\na\r\n");
    p.cmd("use b\r\n");
    p.cmd("put 0 1 10 1\r\nb\r\n");
    w.cmd("watch a\r\n");
    w.cmd("watch b\r\n");
    w.cmd("reserve\r\n");
    h.advance(1000);
    expect(w.take()).toBe("RESERVED 2 1\r\nb\r\n");
    w.cmd("reserve\r\n");
    h.advance(1999);
    expect(w.take()).toBe("");
    h.advance(1);
    expect(w.take()).toBe("RESERVED 1 1\r\na\r\n");
  });

  test("release with a delay: delayed, then handed to a connection already waiting", () => {
    const h = new ProtocolHarness();
    const [a, w] = [h.connect(), h.connect()];
    a.cmd("put 7 0 10 1\r\nx\r\n");
    a.cmd("reserve\r\n");
    w.cmd("reserve\r\n");
    expect(a.cmd("release 1 3 1\r\n")).toBe("RELEASED\r\n");
    const st = a.cmd("stats-job 1\r\n");
    expect([field(st, "state"), field(st, "pri"), field(st, "delay"), field(st, "releases")]).toEqual(["delayed", "3", "1", "1"]);
    h.advance(999);
    expect(w.take()).toBe("");
    h.advance(1);
    expect(w.take()).toBe("RESERVED 1 1\r\nx\r\n");
    expect(field(w.cmd("stats-job 1\r\n"), "reserves")).toBe("2");
  });

  test("kick moves delayed jobs, soonest deadline first, and they keep their priority order", () => {
    const h = new ProtocolHarness();
    const c = h.connect();
    c.cmd("put 9 30 60 1\r\na\r\n");
    c.cmd("put 1 20 60 1\r\nb\r\n");
    c.cmd("put 5 0 60 1\r\nc\r\n");
    expect(c.cmd("peek-delayed\r\n")).toBe("FOUND 2 1\r\nb\r\n");
    expect(c.cmd("kick 1\r\n")).toBe("KICKED 1\r\n");
    expect(c.cmd("reserve\r\n")).toBe("RESERVED 2 1\r\nb\r\n");
    expect(c.cmd("reserve\r\n")).toBe("RESERVED 3 1\r\nc\r\n");
    expect(field(c.cmd("stats-job 1\r\n"), "time-left")).toBe("30");
    h.advance(30_000);
    expect(c.cmd("reserve\r\n")).toBe("RESERVED 1 1\r\na\r\n");
  });
});

describe("TTR", () => {
  test("a reservation runs out after its TTR without any further command; the job is ready again and counted", () => {
    const h = new ProtocolHarness();
    const [a, b] = [h.connect(), h.connect()];
    a.cmd("put 0 0 2 1\r\nx\r\n");
    expect(a.cmd("reserve\r\n")).toBe("RESERVED 1 1\r\nx\r\n");
    expect(field(a.cmd("stats-job 1\r\n"), "time-left")).toBe("2");
    h.advance(1999);
    expect(field(b.cmd("stats-job 1\r\n"), "state")).toBe("reserved");
    h.advance(1);
    const st = b.cmd("stats-job 1\r\n");
    expect([field(st, "state"), field(st, "timeouts"), field(st, "reserves")]).toEqual(["ready", "1", "1"]);
    expect(field(b.cmd("stats\r\n"), "job-timeouts")).toBe("1");
    expect(a.cmd("release 1 0 0\r\n")).toBe("NOT_FOUND\r\n"); // no longer a's
    expect(b.cmd("reserve\r\n")).toBe("RESERVED 1 1\r\nx\r\n");
  });

  test("an expired job goes to a connection already waiting; touch postpones the expiry by a full TTR", () => {
    const h = new ProtocolHarness();
    const [a, b] = [h.connect(), h.connect()];
    a.cmd("put 0 0 2 1\r\nx\r\n");
    a.cmd("reserve\r\n");
    b.cmd("reserve\r\n");
    h.advance(1200);
    expect(a.cmd("touch 1\r\n")).toBe("TOUCHED\r\n");
    expect(field(a.cmd("stats-job 1\r\n"), "time-left")).toBe("2");
    h.advance(1000); // the original deadline has passed: still a's
    expect(b.take()).toBe("");
    h.advance(999);
    expect(b.take()).toBe("");
    h.advance(1); // the new one
    expect(b.take()).toBe("RESERVED 1 1\r\nx\r\n");
    expect(a.cmd("touch 1\r\n")).toBe("NOT_FOUND\r\n");
    expect(b.cmd("release 1 0 0\r\n")).toBe("RELEASED\r\n");
  });

  test("TTR 0 is raised to 1 s", () => {
    const h = new ProtocolHarness();
    const a = h.connect();
    a.cmd("put 0 0 0 1\r\ny\r\n");
    expect(field(a.cmd("stats-job 1\r\n"), "ttr")).toBe("1");
    a.cmd("reserve\r\n");
    h.advance(1000);
    expect(stateOf(a, 1)).toBe("ready");
  });

  test("a connection's jobs expire one by one, each at its own deadline", () => {
    const h = new ProtocolHarness();
    const a = h.connect();
    a.cmd("put 0 0 5 1\r\na\r\n");
    a.cmd("put 0 0 2 1\r\nb\r\n");
    a.cmd("reserve\r\n");
    a.cmd("reserve\r\n");
    h.advance(2000);
    expect([stateOf(a, 1), stateOf(a, 2)]).toEqual(["reserved", "ready"]);
    h.advance(3000);
    expect([stateOf(a, 1), stateOf(a, 2)]).toEqual(["ready", "ready"]);
  });
});

describe("DEADLINE_SOON", () => {
  test("at reserve time: inside the last second of a TTR, with nothing ready; a ready job wins", () => {
    const h = new ProtocolHarness();
    const c = h.connect();
    c.cmd("put 0 0 1 1\r\na\r\n");
    c.cmd("put 0 0 1 1\r\nb\r\n");
    expect(c.cmd("reserve\r\n")).toBe("RESERVED 1 1\r\na\r\n");
    expect(c.cmd("reserve\r\n")).toBe("RESERVED 2 1\r\nb\r\n");
    expect(c.cmd("reserve\r\n")).toBe("DEADLINE_SOON\r\n");
    expect(c.cmd("reserve-with-timeout 0\r\n")).toBe("DEADLINE_SOON\r\n");
    expect(c.cmd("reserve-with-timeout 5\r\n")).toBe("DEADLINE_SOON\r\n");
  });

  test("a reserve already waiting is cut short when the margin starts", () => {
    const h = new ProtocolHarness();
    const d = h.connect();
    d.cmd("put 0 0 3 1\r\nz\r\n");
    d.cmd("reserve\r\n");
    expect(d.cmd("reserve\r\n")).toBe("");
    h.advance(1999);
    expect(d.take()).toBe("");
    h.advance(1);
    expect(d.take()).toBe("DEADLINE_SOON\r\n");
    expect(stateOf(d, 1)).toBe("reserved");
    h.advance(999);
    expect(stateOf(d, 1)).toBe("reserved");
    h.advance(1);
    expect(stateOf(d, 1)).toBe("ready");
  });

  test("reserve-with-timeout: TIMED_OUT before the margin, DEADLINE_SOON once inside it", () => {
    const h = new ProtocolHarness();
    const c = h.connect();
    c.cmd("put 0 0 3 1\r\na\r\n");
    c.cmd("reserve\r\n");
    c.cmd("reserve-with-timeout 1\r\n");
    h.advance(1000);
    expect(c.take()).toBe("TIMED_OUT\r\n");
    c.cmd("reserve-with-timeout 10\r\n");
    h.advance(999);
    expect(c.take()).toBe("");
    h.advance(1);
    expect(c.take()).toBe("DEADLINE_SOON\r\n");
    expect(c.cmd("touch 1\r\n")).toBe("TOUCHED\r\n");
    h.advance(1);
    expect(c.cmd("reserve-with-timeout 0\r\n")).toBe("");
    h.advance(1);
    expect(c.take()).toBe("TIMED_OUT\r\n");
  });
});

describe("reserve-with-timeout", () => {
  test("0 times out on the next timer turn; 1 s after exactly 1000 ms", () => {
    const h = new ProtocolHarness();
    const c = h.connect();
    expect(c.cmd("reserve-with-timeout 0\r\n")).toBe("");
    h.advance(1);
    expect(c.take()).toBe("TIMED_OUT\r\n");
    c.cmd("reserve-with-timeout 1\r\n");
    h.advance(999);
    expect(c.take()).toBe("");
    h.advance(1);
    expect(c.take()).toBe("TIMED_OUT\r\n");
    expect(field(c.cmd("stats\r\n"), "current-waiting")).toBe("0");
  });

  test("a put to a watched tube ends the wait with the job; a put elsewhere does not", () => {
    const h = new ProtocolHarness();
    const [p, w] = [h.connect(), h.connect()];
    w.cmd("reserve-with-timeout 5\r\n");
    p.cmd("use other\r\n");
    p.cmd("put 0 0 10 1\r\nn\r\n");
    h.advance(1000);
    expect(w.take()).toBe("");
    p.cmd("use default\r\n");
    p.cmd("put 0 0 10 1\r\ny\r\n");
    expect(w.take()).toBe("RESERVED 2 1\r\ny\r\n");
    h.advance(10_000);
    expect(w.take()).toBe("");
  });

  test("1.12: a negative timeout waits like reserve; 1.13 refuses it", () => {
    const old = new ProtocolHarness({ compat: "1.12" });
    const [p, w] = [old.connect(), old.connect()];
    expect(w.cmd("reserve-with-timeout -1\r\n")).toBe("");
    old.advance(3_600_000);
    expect(w.take()).toBe("");
    p.cmd("put 0 0 10 1\r\nz\r\n");
    expect(w.take()).toBe("RESERVED 1 1\r\nz\r\n");
    expect(w.cmd("reserve-with-timeout abc\r\n")).toBe(""); // garbage is 0 in 1.12
    old.advance(1);
    expect(w.take()).toBe("TIMED_OUT\r\n");
    const cur = new ProtocolHarness().connect();
    expect(cur.cmd("reserve-with-timeout -1\r\n")).toBe("BAD_FORMAT\r\n");
    expect(cur.cmd("reserve-with-timeout abc\r\n")).toBe("BAD_FORMAT\r\n");
  });
});

describe("pauses", () => {
  test("a paused tube holds waiting reserves until the pause ends, counting down in stats-tube", () => {
    const h = new ProtocolHarness();
    const [c, w] = [h.connect(), h.connect()];
    c.cmd("use p\r\n");
    c.cmd("put 0 0 10 1\r\nx\r\n");
    expect(c.cmd("pause-tube p 2\r\n")).toBe("PAUSED\r\n");
    expect(c.cmd("pause-tube nope 1\r\n")).toBe("NOT_FOUND\r\n");
    const st = c.cmd("stats-tube p\r\n");
    expect([field(st, "pause"), field(st, "pause-time-left"), field(st, "cmd-pause-tube")]).toEqual(["2", "2", "1"]);
    w.cmd("watch p\r\n");
    w.cmd("ignore default\r\n");
    w.cmd("reserve-with-timeout 0\r\n");
    h.advance(1);
    expect(w.take()).toBe("TIMED_OUT\r\n");
    w.cmd("reserve\r\n");
    h.advance(1000);
    expect(field(c.cmd("stats-tube p\r\n"), "pause-time-left")).toBe("0");
    expect(w.take()).toBe("");
    h.advance(999);
    expect(w.take()).toBe("RESERVED 1 1\r\nx\r\n");
    expect(field(c.cmd("stats-tube p\r\n"), "pause")).toBe("0");
  });

  test("jobs put or made ready during a pause wait for its end; kick and reserve-job still work there", () => {
    const h = new ProtocolHarness();
    const [c, w, v] = [h.connect(), h.connect(), h.connect()];
    w.cmd("watch p\r\n");
    w.cmd("ignore default\r\n");
    w.cmd("reserve\r\n");
    c.cmd("use p\r\n");
    c.cmd("pause-tube p 2\r\n");
    c.cmd("put 0 0 10 1\r\na\r\n");
    c.cmd("put 0 1 10 1\r\nb\r\n");
    h.advance(1400); // job 2's delay ends inside the pause
    expect(w.take()).toBe("");
    expect(field(c.cmd("stats-tube p\r\n"), "current-jobs-ready")).toBe("2");
    h.advance(600);
    expect(w.take()).toBe("RESERVED 1 1\r\na\r\n");
    expect(w.cmd("bury 1 0\r\n")).toBe("BURIED\r\n");
    c.cmd("pause-tube p 60\r\n");
    expect(c.cmd("kick 1\r\n")).toBe("KICKED 1\r\n");
    v.cmd("watch p\r\n");
    expect(v.cmd("reserve-with-timeout 0\r\n")).toBe("");
    h.advance(1);
    expect(v.take()).toBe("TIMED_OUT\r\n");
    expect(v.cmd("reserve-job 2\r\n")).toBe("RESERVED 2 1\r\nb\r\n");
  });

  test("other tubes still serve during a pause, even with worse priorities; a zero pause lasts about nothing", () => {
    const h = new ProtocolHarness();
    const [c, v] = [h.connect(), h.connect()];
    c.cmd("use p\r\n");
    c.cmd("pause-tube p 30\r\n");
    c.cmd("put 5 0 10 1\r\ny\r\n");
    c.cmd("use q\r\n");
    c.cmd("put 9 0 10 1\r\nz\r\n");
    v.cmd("watch p\r\n");
    v.cmd("watch q\r\n");
    expect(v.cmd("reserve-with-timeout 0\r\n")).toBe("RESERVED 2 1\r\nz\r\n");
    c.cmd("pause-tube p 0\r\n");
    expect(v.cmd("reserve-with-timeout 0\r\n")).toBe("");
    h.advance(1);
    expect(v.take()).toBe("RESERVED 1 1\r\ny\r\n");
  });
});

describe("the Queue itself (Results and counters)", () => {
  class Events implements ConnEvents {
    log: string[] = [];
    reserved(slot: number): void {
      this.log.push(`reserved ${slot}`);
    }
    timedOut(): void {
      this.log.push("timed out");
    }
    deadlineSoon(): void {
      this.log.push("deadline soon");
    }
  }

  function put(q: Queue, c: ReturnType<Queue["connect"]>, body: string, delay = 0, ttr = 10): number {
    const slot = q.beginPut(c, 0, delay, ttr, body.length + 2);
    q.store.bodyBuffer(slot).set(Buffer.from(`${body}\r\n`), q.store.bodyOffset(slot));
    expect(q.commitPut(slot)).toBe(Result.Ok);
    return q.store.id[slot]!;
  }

  test("reserve reports Ok, Waiting or DeadlineSoon, and waiting ends through ConnEvents", () => {
    const clock = new FakeClock();
    const q = new Queue({ clock });
    const ev = new Events();
    const c = q.connect(ev);
    expect(q.reserve(c, 1)).toBe(Result.Waiting);
    expect(q.counters.waiting).toBe(1);
    clock.advance(1000);
    expect(ev.log).toEqual(["timed out"]);
    const id = put(q, c, "a", 0, 1);
    expect(q.reserve(c, -1)).toBe(Result.Ok);
    expect(q.counters.reserved).toBe(1);
    expect(q.reserve(c, -1)).toBe(Result.DeadlineSoon);
    clock.advance(1000);
    expect(q.counters).toMatchObject({ reserved: 0, ready: 1, timeouts: 1 });
    expect(q.delete(c, id)).toBe(Result.Ok);
    expect(q.delete(c, id)).toBe(Result.NotFound);
  });

  test("drain() refuses new puts; counters are live and read-only", () => {
    const clock = new FakeClock();
    const q = new Queue({ clock });
    const c = q.connect(new Events());
    put(q, c, "x", 5);
    const n = q.counters;
    expect(n).toMatchObject({ delayed: 1, ready: 0, totalJobs: 1, connections: 1, producers: 0 });
    clock.advance(5000);
    expect(n).toMatchObject({ delayed: 0, ready: 1 });
    q.drain();
    expect(q.draining).toBe(true);
    const slot = q.beginPut(c, 0, 0, 10, 3);
    q.store.bodyBuffer(slot).set(Buffer.from("y\r\n"), q.store.bodyOffset(slot));
    expect(q.commitPut(slot)).toBe(Result.Draining);
    expect(q.counters.totalJobs).toBe(1);
    q.disconnect(c);
    expect(q.counters.connections).toBe(0);
  });

  test("continueIdsFrom never lowers the next id", () => {
    const q = new Queue({ clock: new FakeClock() });
    q.continueIdsFrom(100);
    q.continueIdsFrom(50);
    expect(q.nextId).toBe(100);
  });
});
