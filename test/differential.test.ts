/**
 * Differential tests: every scenario runs against the real beanstalkd and
 * against beanrun (`--compat 1.12`, the wire format of the beanstalkd Debian
 * ships), each on a fresh server, concurrently, and the transcripts of raw
 * replies must be identical after normalising only volatile values (pid,
 * version, rusage, uptime, instance id, host names).
 */
import { describe, expect, test } from "bun:test";
import { BEANSTALKD, startOurs, startReference, type ServerProcess } from "./support/servers.ts";
import { Wire } from "./support/wire.ts";

const VOLATILE = /^(pid|version|rusage-utime|rusage-stime|uptime|id|hostname|os|platform): .*$/gm;

/** Normalises volatile stats values and fixes up the OK byte count accordingly. */
function normalise(reply: string): string {
  const m = /^OK \d+\r\n([\s\S]*)\r\n$/.exec(reply);
  if (!m) return reply;
  const yaml = m[1]!.replace(VOLATILE, "$1: <volatile>");
  return `OK <len>\r\n${yaml}\r\n`;
}

class Conn {
  constructor(
    private readonly run: Run,
    readonly wire: Wire,
    readonly name: string,
  ) {}
  /** Sends a command line (or several) and records the next reply. */
  async cmd(data: string, ms?: number): Promise<string> {
    this.wire.send(data);
    return this.reply(ms);
  }
  send(data: string | Uint8Array): void {
    this.wire.send(data);
  }
  async sendSlowly(data: string): Promise<void> {
    await this.wire.sendSlowly(data);
  }
  async reply(ms?: number): Promise<string> {
    const r = await this.wire.reply(ms);
    this.run.log.push(`${this.name} < ${JSON.stringify(normalise(r))}`);
    return r;
  }
  /** Records up to n replies (stops at the first "<none>"). */
  async replies(n: number, ms?: number): Promise<void> {
    for (let i = 0; i < n; i++) if ((await this.reply(ms)) === "<none>") return;
  }
  close(): void {
    this.wire.close();
  }
  end(): void {
    this.wire.end();
  }
}

class Run {
  log: string[] = [];
  private conns: Conn[] = [];
  constructor(readonly server: ServerProcess) {}
  async conn(): Promise<Conn> {
    const c = new Conn(this, await Wire.open(this.server.port), `c${this.conns.length}`);
    this.conns.push(c);
    return c;
  }
  note(s: string): void {
    this.log.push(s);
  }
  closeAll(): void {
    for (const c of this.conns) c.close();
  }
}

type Scenario = (r: Run) => Promise<void>;

/** Runs a scenario on both servers at once and compares transcripts. */
async function same(scenario: Scenario, serverArgs: string[] = []): Promise<void> {
  const [ref, ours] = await Promise.all([startReference(serverArgs), startOurs(["--compat", "1.12", ...serverArgs])]);
  const a = new Run(ref);
  const b = new Run(ours);
  try {
    await Promise.all([scenario(a), scenario(b)]);
  } finally {
    a.closeAll();
    b.closeAll();
    await Promise.all([ref.stop(), ours.stop()]);
  }
  expect(b.log.join("\n")).toBe(a.log.join("\n"));
}

const sleep = (ms: number) => Bun.sleep(ms);

describe.skipIf(!BEANSTALKD)("same replies as beanstalkd", () => {
  test("put, reserve, delete and every peek, with job stats in each state", () =>
    same(async (r) => {
      const c = await r.conn();
      await c.cmd("put 10 0 60 5\r\nhello\r\n");
      await c.cmd("put 5 0 60 3\r\nabc\r\n");
      await c.cmd("put 0 10 60 3\r\nxyz\r\n");
      await c.cmd("peek-ready\r\n");
      await c.cmd("peek-delayed\r\n");
      await c.cmd("peek-buried\r\n");
      await c.cmd("peek 1\r\n");
      await c.cmd("peek 99\r\n");
      await c.cmd("stats-job 3\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("stats-job 2\r\n");
      await c.cmd("bury 2 7\r\n");
      await c.cmd("peek-buried\r\n");
      await c.cmd("stats-job 2\r\n");
      await c.cmd("reserve-with-timeout 0\r\n");
      await c.cmd("release 1 3 0\r\n");
      await c.cmd("stats-job 1\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("touch 1\r\n");
      await c.cmd("touch 2\r\n");
      await c.cmd("delete 1\r\n");
      await c.cmd("delete 1\r\n");
      await c.cmd("kick 10\r\n");
      await c.cmd("kick 10\r\n");
      await c.cmd("kick-job 3\r\n");
      await c.cmd("kick-job 3\r\n");
      await c.cmd("stats-job 3\r\n");
      await c.cmd("reserve-job 3\r\n");
      await c.cmd("reserve-job 3\r\n");
      await c.cmd("release 3 1 100\r\n");
      await c.cmd("stats-job 3\r\n");
      await c.cmd("stats-tube default\r\n");
      await c.cmd("stats\r\n");
    }));

  test("malformed commands: BAD_FORMAT and UNKNOWN_COMMAND exactly where beanstalkd gives them", () =>
    same(async (r) => {
      const c = await r.conn();
      const lines = [
        "put", "put ", "put 1", "put 1 2 3", "put a 0 0 1", "put 1 2 3 4 5", "put -1 0 0 1", "put 4294967296 0 1 1",
        "put 1 2 3 1 ", "reserve ", "reservex", "reserve-with-timeout", "reserve-with-timeout ", "reserve-job",
        "reserve-job ", "reserve-job x", "delete", "delete ", "delete x", "delete 1 ", "delete 1x", "delete -1",
        "delete 18446744073709551615", "delete 18446744073709551616", "delete 00000000000000000000001",
        "release 1", "release 1 2", "release 1 2 3 ", "release 1 2 4294967296", "bury", "bury 1", "bury 1 x",
        "kick", "kick ", "kick x", "kick -1", "kick 3x", "kick 99999999999999999999", "kick-job", "kick-job x",
        "touch", "touch x", "stats ", "statsx", "stats-job", "stats-job x", "stats-tube", "stats-tube ",
        "stats-tube -x", "stats-tube a b", "stats-tube nope", "use", "use ", "use -a", "use a$b", "use a b",
        "use a\tb", "watch", "watch  a", "ignore", "ignore nope", "list-tubes ", "list-tubes x", "list-tube-used x",
        "list-tubes-watched x", "pause-tube", "pause-tube x", "pause-tube default", "pause-tube default x",
        "pause-tube default 1 ", "pause-tubedefault 0", "pause-tube -x 1", "peek", "peek ", "peek x",
        "peek-ready ", "peek-readyx", "peek-delayedx", "peek-buriedx", "", " ", "PUT 1 2 3 4", "Stats", "foo",
        "quitx-is-quit-too-but-later",
      ];
      for (const l of lines.slice(0, -1)) await c.cmd(l + "\r\n");
      await c.cmd("stats\r\n");
    }));

  test("tube names: length limits, allowed characters, and what use/watch/ignore answer", () =>
    same(async (r) => {
      const c = await r.conn();
      await c.cmd(`use ${"a".repeat(200)}\r\n`);
      await c.cmd(`use ${"b".repeat(201)}\r\n`);
      await c.cmd("use A-Za-z0-9+/;.$_()\r\n");
      await c.cmd("list-tube-used\r\n");
      await c.cmd("watch x\r\n");
      await c.cmd("watch x\r\n");
      await c.cmd("watch y\r\n");
      await c.cmd("list-tubes-watched\r\n");
      await c.cmd("ignore default\r\n");
      await c.cmd("ignore x\r\n");
      await c.cmd("list-tubes-watched\r\n");
      await c.cmd("ignore y\r\n");
      await c.cmd("ignore nope\r\n");
      await c.cmd("list-tubes\r\n");
      await c.cmd("stats-tube y\r\n");
    }));

  test("line framing: 224-byte limit, stray CR, NUL bytes, split and pipelined input", () =>
    same(async (r) => {
      const c = await r.conn();
      // A line of exactly 224 bytes with its CRLF is accepted; 225 is not.
      await c.cmd(`use ${"a".repeat(200)}${" ".repeat(18)}\r\n`);
      await c.cmd(`use ${"a".repeat(200)}${" ".repeat(19)}\r\n`);
      await c.cmd(`${"x".repeat(1000)}\r\nlist-tube-used\r\n`);
      await c.reply();
      await c.cmd("use a\0b\r\n");
      await c.cmd("stats\0\r\n");
      // A stray CR stalls framing until the 224-byte window fills.
      c.send("use foo\rbar\r\n");
      await c.reply(300);
      c.send("x".repeat(220) + "\r\nlist-tube-used\r\n");
      await c.replies(3, 500);
      const d = await r.conn();
      await d.sendSlowly("put 1 0 10 4\r\na\r\nb\r\n");
      await d.reply();
      d.send("use p\r\nput 0 0 10 1\r\nx\r\nput 0 0 10 1\r\ny\r\npeek-ready\r\nlist-tube-used\r\nstats-tube p\r\n");
      await d.replies(6);
    }));

  test("bodies: EXPECTED_CRLF, JOB_TOO_BIG with the body skipped, binary data", () =>
    same(
      async (r) => {
        const c = await r.conn();
        await c.cmd("put 0 0 10 3\r\nabcd\r\n");
        await c.reply();
        await c.cmd("put 0 0 10 3\r\nab\r\n\r\n");
        await c.cmd("put 0 0 10 11\r\n0123456789A\r\nlist-tube-used\r\n");
        await c.reply();
        await c.cmd("put 0 0 10 10\r\n\r\n\r\n\0\0\r\n\r\n\r\n");
        await c.cmd("peek-ready\r\n");
        await c.cmd("put 0 0 10 4294967295\r\n");
        await c.cmd("stats\r\n", 300);
      },
      ["-z", "10"],
    ));

  test("reserve-with-timeout: 0, 1 second, negative and garbage timeouts (1.12 parsing)", () =>
    same(async (r) => {
      const c = await r.conn();
      await c.cmd("reserve-with-timeout 0\r\n");
      await c.cmd("reserve-with-timeout 1\r\n", 3000);
      await c.cmd("reserve-with-timeout abc\r\n");
      await c.cmd("reserve-with-timeout 0junk\r\n");
      await c.cmd("reserve-with-timeout 99999999999999999999\r\n");
      await c.cmd("reserve-with-timeout 4294967296\r\n");
      c.send("reserve-with-timeout -1\r\n");
      await c.reply(1500);
      const p = await r.conn();
      await p.cmd("put 0 0 10 1\r\nz\r\n");
      await c.reply();
      await c.cmd("stats\r\n");
    }));

  test("several waiting connections: which one gets each job", () =>
    same(async (r) => {
      const ws: Conn[] = [];
      for (let i = 0; i < 5; i++) {
        const w = await r.conn();
        await w.cmd("watch t\r\n");
        w.send("reserve\r\n");
        ws.push(w);
        await sleep(20);
      }
      const p = await r.conn();
      await p.cmd("use t\r\n");
      for (let i = 0; i < 5; i++) {
        await p.cmd(`put 0 0 10 1\r\n${i}\r\n`);
        await sleep(30);
        for (const [k, w] of ws.entries()) {
          const got = await w.wire.reply(50);
          if (got !== "<none>") r.note(`job ${i} -> w${k}: ${JSON.stringify(got)}`);
        }
      }
      await p.cmd("stats-tube t\r\n");
    }));

  test("a put wakes a reserve waiting on any watched tube; priorities across tubes", () =>
    same(async (r) => {
      const w = await r.conn();
      await w.cmd("watch a\r\n");
      await w.cmd("watch b\r\n");
      w.send("reserve\r\n");
      await sleep(50);
      const p = await r.conn();
      await p.cmd("use b\r\n");
      await p.cmd("put 5 0 10 2\r\nb1\r\n");
      await w.reply();
      await p.cmd("put 9 0 10 2\r\nb2\r\n");
      await p.cmd("use a\r\n");
      await p.cmd("put 1 0 10 2\r\na1\r\n");
      await w.cmd("reserve\r\n");
      await w.cmd("reserve\r\n");
      await w.cmd("reserve-with-timeout 0\r\n");
      await w.cmd("stats\r\n");
    }));

  test("list-tubes order after tubes vanish", () =>
    same(async (r) => {
      const c = await r.conn();
      for (const t of ["t1", "t2", "t3", "t4"]) await c.cmd(`watch ${t}\r\n`);
      await c.cmd("use t5\r\n");
      await c.cmd("put 0 0 10 1\r\nx\r\n");
      await c.cmd("list-tubes\r\n");
      await c.cmd("ignore t2\r\n");
      await c.cmd("list-tubes\r\n");
      await c.cmd("use t6\r\n");
      await c.cmd("list-tubes\r\n");
      await c.cmd("ignore t1\r\n");
      await c.cmd("list-tubes\r\n");
      await c.cmd("delete 1\r\n");
      await c.cmd("list-tubes\r\n");
      await c.cmd("use default\r\n");
      await c.cmd("list-tubes\r\n");
      await c.cmd("list-tubes-watched\r\n");
      await c.cmd("stats\r\n");
    }));

  test("pause-tube holds waiting reserves until the pause ends", () =>
    same(async (r) => {
      const c = await r.conn();
      await c.cmd("use p\r\n");
      await c.cmd("put 0 0 10 1\r\nx\r\n");
      await c.cmd("pause-tube p 1\r\n");
      await c.cmd("pause-tube nope 1\r\n");
      await c.cmd("stats-tube p\r\n");
      const w = await r.conn();
      await w.cmd("watch p\r\n");
      await w.cmd("ignore default\r\n");
      w.send("reserve\r\n");
      await w.reply(500);
      await w.reply(2000);
      await c.cmd("stats-tube p\r\n");
      await c.cmd("pause-tube p 0\r\n");
      await c.cmd("stats-tube p\r\n");
    }));

  test("TTR: DEADLINE_SOON, expiry back to ready, touch, timeouts counters", () =>
    same(async (r) => {
      const c = await r.conn();
      await c.cmd("put 0 0 1 1\r\na\r\n");
      await c.cmd("put 0 0 2 1\r\nb\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("reserve-with-timeout 5\r\n", 3000);
      await sleep(1600);
      await c.cmd("stats-job 1\r\n");
      await c.cmd("stats-job 2\r\n");
      const d = await r.conn();
      await d.cmd("reserve\r\n");
      await d.cmd("touch 1\r\n");
      await d.cmd("touch 2\r\n");
      await c.cmd("stats\r\n");
    }));

  test("delayed jobs become ready after their delay; kick moves delayed jobs", () =>
    same(async (r) => {
      const c = await r.conn();
      await c.cmd("put 0 1 10 1\r\na\r\n");
      await c.cmd("put 0 100 10 1\r\nb\r\n");
      await c.cmd("put 0 100 10 1\r\nc\r\n");
      await c.cmd("stats-tube default\r\n");
      await c.cmd("reserve-with-timeout 3\r\n", 4000);
      await c.cmd("kick 1\r\n");
      await c.cmd("stats-job 2\r\n");
      await c.cmd("peek-delayed\r\n");
      await c.cmd("stats\r\n");
    }));

  test("a closing connection returns its reserved jobs; a quit mid-pipeline", () =>
    same(async (r) => {
      const a = await r.conn();
      await a.cmd("put 0 0 100 1\r\na\r\n");
      await a.cmd("put 0 0 100 1\r\nb\r\n");
      await a.cmd("reserve\r\n");
      await a.cmd("reserve\r\n");
      const b = await r.conn();
      b.send("reserve\r\n");
      await b.reply(200);
      a.close();
      await b.reply();
      await b.cmd("stats-job 2\r\n");
      await b.cmd("list-tube-used\r\nquit\r\nlist-tube-used\r\n");
      await b.reply(300);
      const c = await r.conn();
      await c.cmd("stats\r\n");
    }));

  test("a waiting reserve whose client half-closes gets TIMED_OUT", () =>
    same(async (r) => {
      const a = await r.conn();
      a.send("reserve\r\n");
      await a.reply(200);
      a.end();
      await a.reply();
      await a.reply(300);
    }));

  test("drain mode (SIGUSR1) refuses new jobs", () =>
    same(async (r) => {
      const c = await r.conn();
      await c.cmd("put 0 0 10 1\r\na\r\n");
      process.kill(r.server.pid, "SIGUSR1");
      await sleep(200);
      await c.cmd("put 0 0 10 1\r\nb\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("stats\r\n");
    }));
});

if (!BEANSTALKD) {
  test.skip("differential tests need beanstalkd on PATH (apt-get install beanstalkd)", () => {});
}
