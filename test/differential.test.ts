/**
 * Differential tests: every scenario runs, concurrently, against a fresh real
 * beanstalkd (1.12, Debian's) and a fresh beanrun started with
 * `--compat 1.12`. Each side records a transcript of what was sent and every
 * raw reply; the transcripts must be identical byte for byte after
 * normalising only volatile values (see support/normalise.ts: pid, version,
 * rusage, uptime, instance id, host names in `stats`; job ages and time-left
 * only when the two clocks differ by at most one second, plus twice the
 * furthest the subject's run has fallen behind the reference's so far: see
 * clockSlack).
 *
 * Fresh servers per scenario keep global counters (stats, job ids, connection
 * counts) comparable.
 *
 *   bun test test/differential.test.ts --timeout 30000
 *   BEANRUN_DIFF_SUBJECT=reference bun test test/differential.test.ts --timeout 30000
 *
 * The second form compares two real beanstalkd processes: it must pass, which
 * shows the normalisation hides nothing but volatile values and that no
 * scenario depends on timing luck. BEANRUN_DIFF_SUBJECT=ours-1.13 runs beanrun
 * without --compat 1.12: the scenarios that show quoted YAML values must fail
 * (a check that the comparison really bites).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { BEANSTALKD, maxJobSize, type ServerProcess, SUBJECT, startPair, startSubject, stopSpares } from "./support/servers.ts";

afterAll(stopSpares);

import { normalise, reconcileClock } from "./support/normalise.ts";
import { accepted, type ServerFd } from "./support/server-fds.ts";
import { CLOSED, NONE, Wire } from "./support/wire.ts";

/** A transcript line; a reply also records when it arrived (ms since its Run began). */
type Entry = { text: string; reply?: string; at?: number };

const show = (s: string, max = 160): string => {
  const j = JSON.stringify(s);
  return j.length > max ? `${j.slice(0, max)}…(${s.length} bytes)` : j;
};

/**
 * One scenario connection. Every step that closes it waits until the server
 * has given it up (support/server-fds.ts: the server's descriptor for it is
 * closed), so the next command on another connection sees it gone on both
 * servers alike: `close()` after the client's own close, and `reply()` when
 * it finds the connection closed by the server (quit, a half-close served to
 * the end). Opening one waits until the server has accepted it.
 */
class Conn {
  constructor(
    private readonly run: Run,
    readonly wire: Wire,
    readonly name: string,
    private readonly fd: ServerFd | null,
  ) {}
  /** Sends bytes in one write (recorded). */
  send(data: string): void {
    this.run.sent(this.name, data);
    this.wire.send(data);
  }
  /**
   * Sends a command that makes this connection wait (a reserve with no job
   * for it) and returns once the server counts it among its waiting
   * connections, so the next step finds the waiters in the order they were
   * sent, on both servers alike, however loaded the machine.
   */
  async sendWaiting(data: string): Promise<void> {
    const before = await this.run.waitingCount();
    this.send(data);
    await this.run.untilWaiting(before + 1);
  }
  /** Sends one command and records its reply. */
  async cmd(data: string, ms?: number): Promise<string> {
    this.send(data);
    return this.reply(ms);
  }
  /** Sends each byte as its own write. */
  async bytewise(data: string, pauseMs = 2): Promise<void> {
    this.run.sent(`${this.name} (byte by byte)`, data);
    await this.wire.sendBytewise(data, pauseMs);
  }
  /** Records the next reply (NONE after `ms`, CLOSED if the server hung up). */
  async reply(ms?: number): Promise<string> {
    const r = await this.wire.reply(ms);
    this.run.got(this.name, r);
    if (r === CLOSED) await this.fd?.released();
    return r;
  }
  /** Records n replies (stops early at NONE/CLOSED). */
  async replies(n: number, ms?: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const r = await this.reply(ms);
      if (r === NONE || r === CLOSED) return;
    }
  }
  /** Records every reply until none arrives for `ms` (or the server hangs up). */
  async drain(ms = 300): Promise<void> {
    for (;;) {
      const r = await this.reply(ms);
      if (r === NONE || r === CLOSED) return;
    }
  }
  /** Records that nothing arrives within `ms` (or records what did arrive). */
  async none(ms: number): Promise<void> {
    if (await this.wire.expectNone(ms)) this.run.note(`${this.name} < (nothing for ${ms} ms)`);
    else await this.reply(10);
  }
  /** Closes abruptly and waits until the server has given the connection up. */
  async close(): Promise<void> {
    this.run.note(`${this.name} closes`);
    this.wire.close();
    await this.fd?.released();
  }
  end(): void {
    this.run.note(`${this.name} half-closes`);
    this.wire.end();
  }
}

class Run {
  readonly log: Entry[] = [];
  private readonly conns: Conn[] = [];
  /** The reference's Run and the subject's begin together (see same()), so their `at`s compare. */
  private readonly t0 = performance.now();
  private observer: Wire | null = null;
  private observerStats = 0;
  constructor(readonly server: ServerProcess) {}
  async conn(): Promise<Conn> {
    const [wire, fd] = await accepted(this.server.pid, () => Wire.open(this.server.port));
    const c = new Conn(this, wire, `c${this.conns.length}`, fd);
    this.conns.push(c);
    return c;
  }
  async conns_(n: number): Promise<Conn[]> {
    const out: Conn[] = [];
    for (let i = 0; i < n; i++) out.push(await this.conn());
    return out;
  }
  /**
   * The server's `current-waiting`, read by `stats` on a connection of the
   * harness's own (opened at the same step on both servers, so connection
   * counts stay equal). Its polls are taken out of `cmd-stats` in every reply
   * the transcript records (see got()): each server may need a different
   * number of them.
   */
  async waitingCount(): Promise<number> {
    if (!this.observer) {
      const [wire] = await accepted(this.server.pid, () => Wire.open(this.server.port));
      this.observer = wire;
    }
    this.observerStats++;
    return Number((await this.observer.stats())["current-waiting"]);
  }
  /** Polls waitingCount() until it reaches n (10 s at most, then the transcripts will differ). */
  async untilWaiting(n: number): Promise<void> {
    const end = performance.now() + 10_000;
    while ((await this.waitingCount()) < n && performance.now() < end) await Bun.sleep(2);
  }
  note(text: string): void {
    this.log.push({ text });
  }
  sent(who: string, data: string): void {
    this.log.push({ text: `${who} > ${show(data)}` });
  }
  got(who: string, reply: string): void {
    const seen = this.observerStats ? this.withoutObserver(reply) : reply;
    this.log.push({ text: `${who} <`, reply: normalise(seen), at: performance.now() - this.t0 });
  }
  /** A `stats` reply as it would read without the harness's own polls (its OK length recounted). */
  private withoutObserver(reply: string): string {
    const m = /^OK \d+\r\n([\s\S]*)\r\n$/.exec(reply);
    if (!m?.[1]?.includes("\ncmd-stats: ")) return reply;
    const body = m[1].replace(/^cmd-stats: (\d+)$/m, (_, n: string) => `cmd-stats: ${Number(n) - this.observerStats}`);
    return `OK ${Buffer.byteLength(body, "latin1")}\r\n${body}\r\n`;
  }
  /**
   * Waits until one of `conns` has a complete reply (up to `ms`), then a
   * grace period, and records which connections got what, in order.
   */
  async whoGets(conns: Conn[], ms = 3000, graceMs = 150): Promise<[Conn, string][]> {
    const live = conns.filter((c) => !c.wire.closed);
    await Promise.race(live.map((c) => c.wire.waitReply(ms)));
    await Bun.sleep(graceMs);
    const got: [Conn, string][] = [];
    for (const c of live) {
      if (c.wire.hasReply()) got.push([c, await c.reply(10)]);
    }
    if (!got.length) this.note(`(none of ${conns.map((c) => c.name).join(",")} got a reply)`);
    return got;
  }
  closeAll(): void {
    for (const c of this.conns) c.wire.close();
    this.observer?.close();
  }
}

type Scenario = (r: Run) => Promise<void>;

/**
 * For each entry of `log`, how many seconds its clock values (age, time-left,
 * pause-time-left) may differ from the reference's (`other`): one for the two
 * clocks ticking apart, plus twice the furthest the two runs have drifted
 * apart in reaching a reply so far (a clock value measures the time between
 * two steps, each of which one side may have reached later by that much).
 * Two runs in step, as with the in-memory store, keep it at one second.
 */
function clockSlack(log: Entry[], other: Entry[]): number[] {
  let lag = 0;
  return log.map((e, i) => {
    const ref = other[i]?.at;
    if (e.at !== undefined && ref !== undefined) lag = Math.max(lag, Math.abs(e.at - ref));
    return 1 + Math.floor((2 * lag) / 1000);
  });
}

function render(log: Entry[], other?: Entry[]): string {
  const slack = other ? clockSlack(log, other) : [];
  return log
    .map((e, i) => {
      if (e.reply === undefined) return e.text;
      const ref = other?.[i]?.reply;
      const reply = ref !== undefined ? reconcileClock(ref, e.reply, slack[i]) : e.reply;
      return `${e.text} ${show(reply, 100_000)}`;
    })
    .join("\n");
}

/** Runs a scenario on a fresh reference and a fresh subject at once and compares transcripts. */
async function same(scenario: Scenario, serverArgs: string[] = []): Promise<void> {
  const [ref, sub] = await startPair(serverArgs);
  const a = new Run(ref);
  const b = new Run(sub);
  try {
    await Promise.all([scenario(a), scenario(b)]);
  } finally {
    a.closeAll();
    b.closeAll();
    await Promise.all([ref.stop(), sub.stop()]);
  }
  const expected = render(a.log);
  const actual = render(b.log, a.log);
  if (actual !== expected) console.error(explain(a.log, b.log));
  expect(actual).toBe(expected);
}

/** A short account of the first differing replies: the step, then expected vs actual lines. */
function explain(ref: Entry[], sub: Entry[]): string {
  const out: string[] = [`differences (${SUBJECT} vs reference):`];
  const n = Math.max(ref.length, sub.length);
  const slack = clockSlack(sub, ref);
  for (let i = 0, shown = 0; i < n && shown < 8; i++) {
    const a = ref[i];
    const b = sub[i];
    const ar = a?.reply;
    const br = b?.reply !== undefined && ar !== undefined ? reconcileClock(ar, b.reply, slack[i]) : b?.reply;
    if (a?.text === b?.text && ar === br) continue;
    shown++;
    const step = ref
      .slice(0, i)
      .reverse()
      .find((e) => e.reply === undefined);
    out.push(`  after ${step?.text ?? "(start)"}`);
    const al = (ar ?? a?.text ?? "<missing>").split("\n");
    const bl = (br ?? b?.text ?? "<missing>").split("\n");
    if (al.length === bl.length && al.length > 3) {
      for (let k = 0; k < al.length; k++)
        if (al[k] !== bl[k]) out.push(`    expected ${JSON.stringify(al[k])}\n    actual   ${JSON.stringify(bl[k])}`);
    } else {
      out.push(`    expected ${show(ar ?? a?.text ?? "<missing>", 400)}\n    actual   ${show(br ?? b?.text ?? "<missing>", 400)}`);
    }
  }
  return out.join("\n");
}

const sleep = (ms: number) => Bun.sleep(ms);

/**
 * beanstalkd 1.12 sometimes leaves a job reserved past its TTR while the
 * reserving connection is idle (about 1 run in 3 here; upstream issues
 * beanstalkd#262 and #380): the connection's timer is only re-armed when it
 * next sends a command. After a TTR has run out, the scenarios therefore send
 * a harmless command on the reserving connection before they look, so the
 * reference behaves deterministically; beanrun's own unprompted expiry is
 * checked separately below.
 */
async function nudge(c: Conn): Promise<void> {
  await c.cmd("list-tube-used\r\n");
  await sleep(20);
}

const subjectName =
  SUBJECT === "reference"
    ? "a second beanstalkd (self-check)"
    : SUBJECT === "ours-1.13"
      ? "beanrun without --compat (must fail)"
      : "beanrun --compat 1.12";

describe.skipIf(!BEANSTALKD)(`same bytes as beanstalkd 1.12: ${subjectName}`, () => {
  describe("every command", () => {
    test("put, peek, reserve, delete; stats-job in every state", () =>
      same(async (r) => {
        const c = await r.conn();
        await c.cmd("put 10 0 60 5\r\nhello\r\n");
        await c.cmd("put 5 0 60 3\r\nabc\r\n");
        await c.cmd("put 0 10 60 3\r\nxyz\r\n");
        await c.cmd("peek-ready\r\n");
        await c.cmd("peek-delayed\r\n");
        await c.cmd("peek-buried\r\n");
        await c.cmd("peek 1\r\n");
        await c.cmd("peek 3\r\n");
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

    test("use, watch, ignore (NOT_IGNORED), list-tube-used, list-tubes-watched, list-tubes", () =>
      same(async (r) => {
        const [c, d] = await r.conns_(2);
        await c.cmd("list-tube-used\r\n");
        await c.cmd("list-tubes-watched\r\n");
        await c.cmd("ignore default\r\n");
        await c.cmd("use alpha\r\n");
        await c.cmd("list-tube-used\r\n");
        await c.cmd("watch beta\r\n");
        await c.cmd("watch gamma\r\n");
        await c.cmd("watch beta\r\n");
        await c.cmd("list-tubes-watched\r\n");
        await c.cmd("ignore default\r\n");
        await c.cmd("ignore gamma\r\n");
        await c.cmd("ignore gamma\r\n");
        await c.cmd("ignore beta\r\n");
        await c.cmd("list-tubes-watched\r\n");
        await c.cmd("list-tubes\r\n");
        await d.cmd("list-tube-used\r\n");
        await d.cmd("list-tubes-watched\r\n");
        await d.cmd("watch beta\r\n");
        await d.cmd("use beta\r\n");
        await d.cmd("stats-tube beta\r\n");
        await d.cmd("stats-tube alpha\r\n");
        await d.cmd("stats-tube default\r\n");
        await d.cmd("stats-tube gamma\r\n");
        await c.cmd("use default\r\n");
        await d.cmd("list-tubes\r\n");
        await d.cmd("stats\r\n");
      }));

    test("release, bury, kick and kick-job across states and tubes", () =>
      same(async (r) => {
        const c = await r.conn();
        await c.cmd("use t\r\n");
        await c.cmd("watch t\r\n");
        await c.cmd("ignore default\r\n");
        for (let i = 0; i < 6; i++) await c.cmd(`put ${100 - i} 0 60 2\r\nj${i}\r\n`);
        await c.cmd("reserve\r\n"); // 6
        await c.cmd("bury 6 5\r\n");
        await c.cmd("reserve\r\n"); // 5
        await c.cmd("release 5 7 100\r\n");
        await c.cmd("reserve\r\n"); // 4
        await c.cmd("bury 4 1\r\n");
        await c.cmd("reserve\r\n"); // 3
        await c.cmd("release 3 0 200\r\n");
        await c.cmd("reserve\r\n"); // 2
        await c.cmd("stats-tube t\r\n");
        await c.cmd("peek-buried\r\n");
        await c.cmd("peek-delayed\r\n");
        await c.cmd("kick-job 1\r\n"); // ready: NOT_FOUND
        await c.cmd("kick-job 2\r\n"); // reserved: NOT_FOUND
        await c.cmd("kick 1\r\n"); // one buried
        await c.cmd("peek-buried\r\n");
        await c.cmd("kick 10\r\n"); // the other buried; delayed stay
        await c.cmd("kick 10\r\n"); // now the delayed ones
        await c.cmd("kick 10\r\n");
        await c.cmd("kick 0\r\n");
        await c.cmd("stats-job 5\r\n");
        await c.cmd("stats-job 6\r\n");
        await c.cmd("bury 2 0\r\n");
        await c.cmd("use default\r\n");
        await c.cmd("kick 10\r\n"); // kick acts on the used tube only
        await c.cmd("kick-job 2\r\n"); // kick-job does not care about the used tube
        await c.cmd("kick-job 2\r\n");
        await c.cmd("stats-job 2\r\n");
        await c.cmd("release 2 0 0\r\n");
        await c.cmd("stats-tube t\r\n");
        await c.cmd("stats\r\n");
      }));

    test("jobs reserved by another connection: only the reserver may delete, release, bury, touch", () =>
      same(async (r) => {
        const [a, b] = await r.conns_(2);
        await a.cmd("put 0 0 60 1\r\na\r\n");
        await a.cmd("put 0 0 60 1\r\nb\r\n");
        await a.cmd("put 0 100 60 1\r\nc\r\n");
        await a.cmd("reserve\r\n");
        await b.cmd("delete 1\r\n");
        await b.cmd("release 1 0 0\r\n");
        await b.cmd("bury 1 0\r\n");
        await b.cmd("touch 1\r\n");
        await b.cmd("peek 1\r\n");
        await b.cmd("stats-job 1\r\n");
        await b.cmd("reserve-job 1\r\n");
        await b.cmd("delete 2\r\n"); // ready: anyone may delete
        await b.cmd("delete 3\r\n"); // delayed: anyone may delete
        await a.cmd("bury 1 3\r\n");
        await b.cmd("delete 1\r\n"); // buried: anyone may delete
        await b.cmd("stats\r\n");
      }));

    test("bounds: priorities, delays and TTRs up to 2^32-1; TTR 0 becomes 1; urgent counts; order by priority then id", () =>
      same(async (r) => {
        const c = await r.conn();
        await c.cmd("put 4294967295 0 0 1\r\na\r\n");
        await c.cmd("put 0 4294967295 4294967295 1\r\nb\r\n");
        await c.cmd("put 1023 0 5 1\r\nc\r\n");
        await c.cmd("put 1024 0 5 1\r\nd\r\n");
        await c.cmd("put 1023 0 5 1\r\ne\r\n");
        await c.cmd("put 0 0 5 0\r\n\r\n");
        for (let id = 1; id <= 6; id++) await c.cmd(`stats-job ${id}\r\n`);
        await c.cmd("stats-tube default\r\n");
        await c.cmd("stats\r\n");
        await c.cmd("kick-job 2\r\n");
        for (let i = 0; i < 6; i++) await c.cmd("reserve-with-timeout 0\r\n");
        await c.cmd("reserve-with-timeout 0\r\n");
        await c.cmd("stats-job 1\r\n");
        await c.cmd("release 3 4294967295 0\r\n");
        await c.cmd("release 4 0 4294967295\r\n");
        await c.cmd("stats-job 3\r\n");
        await c.cmd("stats-job 4\r\n");
        await c.cmd("bury 5 4294967295\r\n");
        await c.cmd("stats-job 5\r\n");
        await c.cmd("stats\r\n");
      }));

    test("reserve-job on ready, delayed and buried jobs and in a paused tube", () =>
      same(async (r) => {
        const [c, d] = await r.conns_(2);
        await c.cmd("use q\r\n");
        await c.cmd("put 0 0 60 1\r\na\r\n");
        await c.cmd("put 0 60 60 1\r\nb\r\n");
        await c.cmd("put 0 0 60 1\r\nc\r\n");
        await c.cmd("reserve-job 3\r\n");
        await c.cmd("bury 3 0\r\n");
        await c.cmd("pause-tube q 60\r\n");
        await d.cmd("reserve-job 1\r\n");
        await d.cmd("reserve-job 2\r\n");
        await d.cmd("reserve-job 3\r\n");
        await d.cmd("stats-tube q\r\n");
        await d.cmd("stats-job 2\r\n");
        await d.cmd("reserve-job 4\r\n");
        await d.cmd("reserve-job 0\r\n");
        await d.cmd("release 2 0 0\r\n");
        await d.cmd("stats-job 2\r\n");
        await d.cmd("stats\r\n");
      }));

    test("peek-ready/-delayed/-buried look at the used tube only; peek by id at any tube", () =>
      same(async (r) => {
        const c = await r.conn();
        await c.cmd("use a\r\n");
        await c.cmd("put 5 0 60 2\r\na1\r\n");
        await c.cmd("put 3 0 60 2\r\na2\r\n");
        await c.cmd("put 0 30 60 2\r\na3\r\n");
        await c.cmd("put 0 20 60 2\r\na4\r\n");
        await c.cmd("use b\r\n");
        await c.cmd("peek-ready\r\n");
        await c.cmd("peek-delayed\r\n");
        await c.cmd("peek-buried\r\n");
        await c.cmd("peek 2\r\n");
        await c.cmd("use a\r\n");
        await c.cmd("peek-ready\r\n");
        await c.cmd("peek-delayed\r\n");
        await c.cmd("watch a\r\n");
        await c.cmd("reserve\r\n");
        await c.cmd("bury 2 9\r\n");
        await c.cmd("reserve\r\n");
        await c.cmd("bury 1 1\r\n");
        await c.cmd("peek-buried\r\n"); // buried list is FIFO, not by priority
        await c.cmd("peek-ready\r\n");
        await c.cmd("stats\r\n");
      }));

    test("quit closes the connection, also with trailing bytes and mid-pipeline", () =>
      same(async (r) => {
        const a = await r.conn();
        await a.cmd("quit\r\n");
        const b = await r.conn();
        await b.cmd("quitter\r\n");
        const c = await r.conn();
        await c.cmd("list-tube-used\r\nquit\r\nlist-tube-used\r\n");
        await c.reply(300);
        const d = await r.conn();
        await d.cmd("put 0 0 60 1\r\nx\r\n");
        await d.cmd("reserve\r\n");
        await d.cmd("quit\r\n");
        const e = await r.conn();
        await e.cmd("stats-job 1\r\n");
        await e.cmd("stats\r\n");
      }));

    test("counters in stats, stats-tube and stats-job after a mixed sequence on several tubes and connections", () =>
      same(async (r) => {
        const [p, w, x] = await r.conns_(3);
        await p.cmd("use emails\r\n");
        for (let i = 0; i < 5; i++) await p.cmd(`put ${i * 500} 0 60 3\r\ne-${i}\r\n`);
        await p.cmd("use sms\r\n");
        for (let i = 0; i < 3; i++) await p.cmd(`put 100 ${i === 2 ? 50 : 0} 60 3\r\ns-${i}\r\n`);
        await w.cmd("watch emails\r\n");
        await w.cmd("watch sms\r\n");
        await w.cmd("reserve\r\n");
        await w.cmd("delete 1\r\n");
        await w.cmd("reserve\r\n");
        await w.cmd("release 2 2000 0\r\n");
        await w.cmd("reserve\r\n");
        await w.cmd("bury 6 0\r\n");
        await w.cmd("reserve\r\n");
        await w.cmd("touch 7\r\n");
        await x.cmd("peek 7\r\n");
        await x.cmd("peek-ready\r\n");
        await x.cmd("use emails\r\n");
        await x.cmd("peek-ready\r\n");
        await x.cmd("peek-buried\r\n");
        await x.cmd("use sms\r\n");
        await x.cmd("peek-buried\r\n");
        await x.cmd("kick 5\r\n");
        await x.cmd("stats-job 6\r\n");
        await x.cmd("pause-tube sms 0\r\n");
        await x.cmd("list-tubes\r\n");
        await x.cmd("list-tubes-watched\r\n");
        await x.cmd("stats-tube emails\r\n");
        await x.cmd("stats-tube sms\r\n");
        await x.cmd("stats-tube default\r\n");
        await x.cmd("stats-job 2\r\n");
        await x.cmd("stats-job 7\r\n");
        await x.cmd("stats\r\n");
        await w.cmd("delete 7\r\n");
        await w.cmd("delete 7\r\n");
        await x.cmd("stats\r\n");
      }));
  });

  describe("error paths", () => {
    test("BAD_FORMAT: missing arguments, trailing garbage, non-numeric and negative numbers", () =>
      same(async (r) => {
        const c = await r.conn();
        const lines = [
          "put ",
          "put 1",
          "put 1 2",
          "put 1 2 3",
          "put a 0 0 1",
          "put 1 2 3 4 5",
          "put -1 0 0 1",
          "put 1 -2 3 1",
          "put 1 2 -3 1",
          "put 1 2 3 -1",
          "put 1 2 3 1 ",
          "put 1 2 3 1x",
          "put +1 2 3 1",
          "put 0x1 2 3 1",
          "put 1e3 2 3 1",
          "put 1.5 2 3 1",
          "put 1  2  3  1",
          "put  1 2 3 1",
          "put\t1 2 3 1",
          "put 1\t2 3 1",
          "reserve ",
          "reserve x",
          "reserve-job",
          "reserve-job ",
          "reserve-job x",
          "reserve-job 1 ",
          "reserve-job -1",
          "delete",
          "delete ",
          "delete x",
          "delete 1 ",
          "delete 1x",
          "delete -1",
          "delete +1",
          "delete 1 2",
          "delete  1",
          "release",
          "release 1",
          "release 1 2",
          "release 1 2 3 ",
          "release 1 2 x",
          "release x 2 3",
          "release 1 -2 3",
          "bury",
          "bury 1",
          "bury 1 x",
          "bury 1 2 ",
          "bury x 1",
          "touch",
          "touch ",
          "touch x",
          "touch 1 ",
          "touch -5",
          "kick",
          "kick ",
          "kick x",
          "kick -1",
          "kick 3x",
          "kick 1 ",
          "kick-job",
          "kick-job ",
          "kick-job x",
          "kick-job 1 ",
          "peek",
          "peek ",
          "peek x",
          "peek 1 ",
          "peek -1",
          "peek-ready ",
          "peek-readyx",
          "peek-delayed ",
          "peek-delayedx",
          "peek-buried ",
          "peek-buriedx",
          "stats ",
          "statsx",
          "stats-job",
          "stats-job ",
          "stats-job x",
          "stats-job 1 ",
          "list-tubes ",
          "list-tubesx",
          "list-tube-used ",
          "list-tube-usedx",
          "list-tubes-watched ",
          "list-tubes-watchedx",
          "pause-tube",
          "pause-tube ",
          "pause-tube x",
          "pause-tube default",
          "pause-tube default ",
          "pause-tube default x",
          "pause-tube default 1 ",
          "pause-tube default -1",
          "pause-tubedefault 0",
          "pause-tube  default 0",
        ];
        for (const l of lines) await c.cmd(`${l}\r\n`);
        await c.cmd("stats\r\n");
      }));

    test("BAD_FORMAT: numbers beyond 32 bits (priorities, delays, TTRs, sizes, counts) and 64 bits (ids)", () =>
      same(async (r) => {
        const c = await r.conn();
        const lines = [
          "put 4294967296 0 1 1",
          "put 0 4294967296 1 1",
          "put 0 0 4294967296 1",
          "put 0 0 1 4294967296",
          "put 99999999999999999999 0 1 1",
          "put 0 0 1 18446744073709551616",
          "release 1 4294967296 0",
          "release 1 0 4294967296",
          "bury 1 4294967296",
          "kick 4294967296",
          "kick 18446744073709551615",
          "pause-tube default 4294967296",
          "delete 18446744073709551615",
          "delete 18446744073709551616",
          "delete 99999999999999999999999",
          "peek 18446744073709551616",
          "peek 00000000000000000000000000001",
          "touch 18446744073709551616",
          "kick-job 18446744073709551616",
          "stats-job 18446744073709551616",
          "reserve-job 18446744073709551616",
          "release 18446744073709551616 0 0",
          "bury 18446744073709551616 0",
          "kick 4294967295",
        ];
        await c.cmd("put 0 0 60 1\r\nx\r\n");
        for (const l of lines) await c.cmd(`${l}\r\n`);
        await c.cmd("stats\r\n");
      }));

    test("UNKNOWN_COMMAND: case variants, missing space, empty line, near misses", () =>
      same(async (r) => {
        const c = await r.conn();
        const lines = [
          "",
          " ",
          "\t",
          "PUT 0 0 1 1",
          "Put 0 0 1 1",
          "RESERVE",
          "Reserve",
          "STATS",
          "Stats",
          "QUIT",
          "put",
          "put0 0 1 1",
          "peek1",
          "delete1",
          "release",
          "bury1 0",
          "touch1",
          "watch",
          "watchx",
          "ignore",
          "use",
          "usex",
          "kick1",
          "kick-job",
          "stats-tube",
          "stats-tubes",
          "list",
          "list-tube",
          "foo",
          "reserve-job",
          "peek-",
          " reserve",
          "\0",
          "\x7fstats",
          "\xffstats",
        ];
        for (const l of lines) await c.cmd(`${l}\r\n`);
        await c.cmd("stats\r\n");
      }));

    test("tube names: 200 vs 201 bytes, allowed characters, leading '-', for use/watch/ignore/stats-tube/pause-tube", () =>
      same(async (r) => {
        const c = await r.conn();
        const names = [
          "a".repeat(200),
          "b".repeat(201),
          "A-Za-z0-9+/;.$_()",
          "a-",
          "-",
          "-a",
          "a*b",
          "a!b",
          "a,b",
          "a:b",
          "a#b",
          "a\xe9b",
          "a@b",
          "a%b",
          "a'b",
          'a"b',
          "a~b",
          "(x)",
          "$",
          "_",
          "a b",
          "a\tb",
        ];
        for (const n of names) {
          await c.cmd(`use ${n}\r\n`);
          await c.cmd(`watch ${n}\r\n`);
          await c.cmd(`stats-tube ${n}\r\n`);
          await c.cmd(`pause-tube ${n} 0\r\n`);
          await c.cmd(`ignore ${n}\r\n`);
        }
        await c.cmd("list-tube-used\r\n");
        await c.cmd("list-tubes-watched\r\n");
        await c.cmd("list-tubes\r\n");
        await c.cmd("stats\r\n");
      }));

    test("line framing: 224-byte limit, over-long lines, NUL bytes, first-CR framing", () =>
      same(async (r) => {
        // Each case on its own connection; every reply is recorded until the server goes quiet.
        const cases: (string | string[])[] = [
          // Exactly 224 bytes with the CRLF is accepted, 225 is not.
          `use ${"a".repeat(200)}${" ".repeat(18)}\r\n`,
          `use ${"a".repeat(200)}${" ".repeat(19)}\r\nlist-tube-used\r\n`,
          `list-tube-used${" ".repeat(208)}\r\n`,
          `${"x".repeat(1000)}\r\nlist-tube-used\r\n`,
          `${"x".repeat(224)}list-tube-used\r\n`,
          `put 0 0 60 2${" ".repeat(210)}\r\nok\r\n`,
          "use a\0b\r\nstats\0\r\n\0\r\nlist-tubes\0 junk\r\nlist-tube-used\r\n",
          // Framing happens at the first CR: a CR not followed by LF hides the rest of the line.
          ["use foo\rbar\r\n", "x".repeat(220) + "\r\nlist-tube-used\r\n"],
          ["use foo\r\rbar\r\n", "list-tube-used\r\n"],
          "use foo\n\r\nlist-tube-used\n\r\n\n\r\nlist-tube-used\r\n",
          "\r\n\r\nlist-tube-used\r\n",
        ];
        for (const k of cases) {
          const c = await r.conn();
          for (const part of Array.isArray(k) ? k : [k]) {
            c.send(part);
            await c.drain(300);
          }
          await c.close();
        }
        const s = await r.conn();
        await s.cmd("stats\r\n");
      }));

    test("EXPECTED_CRLF: bodies longer or shorter than declared", () =>
      same(async (r) => {
        const cases = [
          "put 0 0 10 3\r\nabcd\r\nlist-tube-used\r\n",
          "put 0 0 10 3\r\nab\r\n\r\nlist-tube-used\r\n",
          "put 0 0 10 3\r\nabcXYlist-tube-used\r\n",
          "put 0 0 10 0\r\nX\r\nlist-tube-used\r\n",
          "put 0 0 10 2\r\nab\n\r\nlist-tube-used\r\n",
          "put 0 0 10 2\r\nab\r\r\nlist-tube-used\r\n",
        ];
        for (const k of cases) {
          const c = await r.conn();
          c.send(k);
          await c.drain(300);
          await c.close();
        }
        const s = await r.conn();
        await s.cmd("stats\r\n");
      }));

    test("JOB_TOO_BIG with -z 10: the body is skipped and the next command works", () =>
      same(async (r) => {
        const c = await r.conn();
        await c.cmd("put 0 0 10 10\r\n0123456789\r\n");
        await c.cmd("put 0 0 10 11\r\n0123456789A\r\nlist-tube-used\r\n");
        await c.reply();
        await c.cmd("put 0 0 10 11 trailing\r\n0123456789A\r\n");
        // The reply to a too-big put comes only after its body has been skipped.
        c.send("put 0 0 10 4294967295\r\n");
        await c.none(300);
        const d = await r.conn();
        d.send("put 0 0 10 20\r\n");
        await d.bytewise("0123456789\r\n01234567\r\n");
        await d.reply();
        await d.cmd("put 0 0 10 13\r\nuse skipped\r\n\r\nlist-tube-used\r\n");
        await d.reply();
        await d.cmd("put 0 0 10 11\r\nshort\r\nlist-tube-used\r\nlist-tube-used\r\n");
        await d.replies(2, 300);
        await d.cmd("stats\r\n");
      }, maxJobSize(10)));

    test("JOB_TOO_BIG with the default -z 65535", () =>
      same(async (r) => {
        const c = await r.conn();
        await c.cmd(`put 0 0 10 65535\r\n${"x".repeat(65535)}\r\n`);
        await c.cmd(`put 0 0 10 65536\r\n${"y".repeat(65536)}\r\nlist-tube-used\r\n`);
        await c.reply();
        await c.cmd("peek 1\r\n");
        await c.cmd("stats\r\n");
      }));

    test("NOT_FOUND for every command that names a job or a tube", () =>
      same(async (r) => {
        const [c, d] = await r.conns_(2);
        const lines = [
          "delete 0",
          "delete 1",
          "release 1 0 0",
          "bury 1 0",
          "touch 1",
          "peek 0",
          "peek 1",
          "peek-ready",
          "peek-delayed",
          "peek-buried",
          "kick-job 1",
          "stats-job 0",
          "stats-job 1",
          "reserve-job 1",
          "stats-tube nope",
          "pause-tube nope 1",
        ];
        for (const l of lines) await c.cmd(`${l}\r\n`);
        await c.cmd("put 0 0 60 1\r\na\r\n");
        await c.cmd("put 0 60 60 1\r\nb\r\n");
        await c.cmd("put 0 0 60 1\r\nc\r\n");
        await d.cmd("reserve\r\n");
        await c.cmd("release 1 0 0\r\n"); // reserved by d
        await c.cmd("release 2 0 0\r\n"); // delayed
        await c.cmd("release 3 0 0\r\n"); // ready
        await c.cmd("bury 2 0\r\n");
        await c.cmd("bury 3 0\r\n");
        await c.cmd("touch 2\r\n");
        await c.cmd("touch 3\r\n");
        await c.cmd("kick-job 1\r\n");
        await c.cmd("kick-job 3\r\n");
        await c.cmd("reserve-job 1\r\n");
        await d.cmd("delete 1\r\n");
        await c.cmd("peek 1\r\n");
        await c.cmd("stats-job 1\r\n");
        await c.cmd("stats\r\n");
      }));

    test("a bad put line does not swallow its body: the body is read as a command", () =>
      same(async (r) => {
        const c = await r.conn();
        await c.cmd("put 0 0 10 5x\r\n");
        await c.cmd("hello\r\n");
        await c.cmd("put 0 0 10\r\nstats-tube default\r\n");
        await c.reply();
      }));
  });

  describe("timeouts, TTR, delays, pauses", () => {
    // How long each wait lasts is checked on a fake clock (test/queue/queue.test.ts);
    // here the bytes, with only waits the real timers must show.
    test("reserve-with-timeout: 0, 1 s, negative (waits like reserve in 1.12), garbage, overflow", () =>
      same(async (r) => {
        const c = await r.conn();
        await c.cmd("reserve-with-timeout 0\r\n");
        await c.cmd("reserve-with-timeout 1\r\n", 3000);
        await c.cmd("reserve-with-timeout abc\r\n");
        await c.cmd("reserve-with-timeout 0junk\r\n");
        await c.cmd("reserve-with-timeout -0\r\n");
        await c.cmd("reserve-with-timeout \r\n");
        await c.cmd("reserve-with-timeout 99999999999999999999\r\n");
        await c.cmd("reserve-with-timeout -99999999999999999999\r\n");
        await c.cmd("reserve-with-timeout 4294967296\r\n");
        await c.cmd("reserve-with-timeout  0\r\n", 3000);
        c.send("reserve-with-timeout -1\r\n");
        await c.none(300);
        const p = await r.conn();
        await p.cmd("put 0 0 10 1\r\nz\r\n");
        await c.reply();
        await c.cmd("delete 1\r\n");
        c.send("reserve-with-timeout -7 \r\n");
        await c.none(300);
        await p.cmd("put 0 0 10 1\r\ny\r\n");
        await c.reply();
        await c.cmd("stats\r\n");
      }));

    test("DEADLINE_SOON: at reserve time, and for a reserve already waiting when the margin starts", () =>
      same(async (r) => {
        const c = await r.conn();
        await c.cmd("put 0 0 1 1\r\na\r\n");
        await c.cmd("put 0 0 1 1\r\nb\r\n");
        await c.cmd("reserve\r\n");
        await c.cmd("reserve\r\n"); // a ready job wins over DEADLINE_SOON
        await c.cmd("reserve\r\n");
        await c.cmd("reserve-with-timeout 0\r\n");
        await c.cmd("reserve-with-timeout 5\r\n");
        await c.cmd("reserve-job 1\r\n");
        // Deleted before they can run out (what expiry does is checked elsewhere;
        // beanstalkd 1.12 may leave an idle connection's job reserved past its TTR).
        await c.cmd("delete 1\r\n");
        await c.cmd("delete 2\r\n");
        const d = await r.conn();
        await d.cmd("use dl\r\n");
        await d.cmd("watch dl\r\n");
        await d.cmd("ignore default\r\n");
        await d.cmd("put 0 0 2 1\r\nz\r\n");
        await d.cmd("reserve\r\n");
        d.send("reserve\r\n");
        await d.reply(3000); // the margin starts 1 s after the reserve
        await d.cmd("stats-job 3\r\n");
        await d.cmd("reserve-with-timeout 0\r\n");
        await d.cmd("stats\r\n");
      }));

    test("TTR expiry returns the job to ready and to a waiting reserve; touch postpones it", () =>
      same(async (r) => {
        const [a, b] = await r.conns_(2);
        await a.cmd("put 0 0 1 1\r\nx\r\n");
        await a.cmd("reserve\r\n");
        await a.cmd("touch 1\r\n");
        await b.sendWaiting("reserve\r\n");
        await sleep(1100); // the TTR of 1 s runs out
        await nudge(a);
        await b.reply(3000); // expired and went to b
        await b.cmd("stats-job 1\r\n");
        await a.cmd("touch 1\r\n");
        await a.cmd("delete 1\r\n");
        await b.cmd("release 1 0 0\r\n");
        await a.cmd("stats\r\n");
        await a.cmd("put 0 0 0 1\r\ny\r\n"); // TTR 0 is raised to 1 s
        await a.cmd("reserve\r\n");
        await a.cmd("stats-job 2\r\n");
        await a.cmd("stats-tube default\r\n");
        await a.cmd("stats\r\n");
      }));

    test("delays expire into ready and wake waiting reserves; release with delay; kick moves delayed jobs", () =>
      same(async (r) => {
        const [c, w] = await r.conns_(2);
        await c.cmd("put 0 1 10 1\r\na\r\n");
        await c.cmd("put 0 100 10 1\r\nb\r\n");
        await c.cmd("put 0 100 10 1\r\nc\r\n");
        await c.cmd("stats-tube default\r\n");
        await c.cmd("peek-delayed\r\n");
        await c.cmd("stats-job 1\r\n");
        await c.cmd("reserve-with-timeout 4\r\n", 4500);
        await c.cmd("release 1 0 1\r\n");
        await c.cmd("stats-job 1\r\n");
        await c.cmd("peek-ready\r\n");
        await c.cmd("kick 1\r\n");
        w.send("reserve\r\n");
        await w.reply(4000);
        await w.cmd("stats-job 1\r\n");
        await c.cmd("kick 1\r\n");
        await c.cmd("stats-job 2\r\n");
        await c.cmd("peek-delayed\r\n");
        await c.cmd("peek-ready\r\n");
        await c.cmd("stats\r\n");
      }));

    test("pause-tube: waiting reserves are held until the pause ends; other tubes still serve", () =>
      same(async (r) => {
        const c = await r.conn();
        await c.cmd("use p\r\n");
        await c.cmd("put 0 0 10 1\r\nx\r\n");
        await c.cmd("pause-tube p 1\r\n");
        await c.cmd("pause-tube nope 1\r\n");
        await c.cmd("stats-tube p\r\n");
        await c.cmd("peek-ready\r\n");
        const w = await r.conn();
        await w.cmd("watch p\r\n");
        await w.cmd("ignore default\r\n");
        await w.cmd("reserve-with-timeout 0\r\n");
        w.send("reserve\r\n");
        await w.none(100);
        await c.cmd("stats-tube p\r\n");
        await w.reply(3000);
        await c.cmd("stats-tube p\r\n");
        await c.cmd("pause-tube p 30\r\n");
        await c.cmd("put 5 0 10 1\r\ny\r\n");
        await c.cmd("use q\r\n");
        await c.cmd("put 9 0 10 1\r\nz\r\n");
        const v = await r.conn();
        await v.cmd("watch p\r\n");
        await v.cmd("watch q\r\n");
        await v.cmd("reserve-with-timeout 0\r\n"); // q's job, though p's has the better priority
        await v.cmd("reserve-with-timeout 0\r\n");
        await v.cmd("reserve-job 2\r\n"); // reserve-job ignores the pause
        await v.cmd("release 2 0 0\r\n");
        await c.cmd("stats-tube p\r\n");
        await c.cmd("pause-tube p 0\r\n"); // a zero pause lasts (almost) nothing
        await v.cmd("reserve-with-timeout 0\r\n");
        await c.cmd("stats-tube p\r\n");
        await c.cmd("stats\r\n");
      }));
  });

  describe("connections", () => {
    test("a closing connection returns its reserved jobs; closing while waiting or mid-body", () =>
      same(async (r) => {
        const [a, b, d] = await r.conns_(3);
        await a.cmd("put 0 0 100 1\r\na\r\n");
        await a.cmd("put 0 0 100 1\r\nb\r\n");
        await a.cmd("reserve\r\n");
        await a.cmd("reserve\r\n");
        b.send("reserve\r\n");
        await b.none(200);
        await d.cmd("stats\r\n");
        await a.close();
        await b.reply();
        await b.cmd("stats-job 1\r\n");
        await b.cmd("stats-job 2\r\n");
        await b.cmd("stats-tube default\r\n");
        const c = await r.conn();
        await c.cmd("watch other\r\n");
        await c.sendWaiting("reserve\r\n");
        await d.cmd("stats-tube other\r\n");
        await c.close();
        await d.cmd("stats-tube other\r\n");
        await d.cmd("list-tubes\r\n");
        const e = await r.conn();
        await e.cmd("use mid\r\n");
        e.send("put 0 0 10 5\r\nab");
        await sleep(50);
        await e.close();
        await d.cmd("list-tubes\r\n");
        await d.cmd("stats\r\n");
      }));

    test("several waiting connections, one job at a time: the reference's ms_take order", () =>
      same(async (r) => {
        const ws = await r.conns_(5);
        for (const w of ws) {
          await w.cmd("watch t\r\n");
          await w.sendWaiting("reserve\r\n");
        }
        const p = await r.conn();
        await p.cmd("stats-tube t\r\n");
        await p.cmd("use t\r\n");
        for (let i = 0; i < 5; i++) {
          await p.cmd(`put 0 0 10 1\r\n${i}\r\n`);
          await r.whoGets(ws);
        }
        await p.cmd("stats-tube t\r\n");
      }));

    test("waiting connections: several jobs in one packet, waiters re-queueing and a waiter leaving", () =>
      same(async (r) => {
        const ws = await r.conns_(6);
        for (const w of ws) {
          await w.cmd("watch t\r\n");
          await w.cmd("ignore default\r\n");
        }
        for (const w of ws.slice(0, 4)) {
          await w.sendWaiting("reserve\r\n");
        }
        const p = await r.conn();
        await p.cmd("use t\r\n");
        // Two puts in one write: two takes in a row without an insert between.
        p.send("put 0 0 10 1\r\na\r\nput 0 0 10 1\r\nb\r\n");
        await p.replies(2);
        const got = await r.whoGets(ws);
        // Those that got a job delete it and wait again (re-inserted at the end), then two more arrive.
        for (const [w, reply] of got) {
          const id = /^RESERVED (\d+) /.exec(reply)?.[1];
          if (!id) continue;
          await w.cmd(`delete ${id}\r\n`);
          await w.sendWaiting("reserve\r\n");
        }
        await p.cmd("stats-tube t\r\n");
        for (const w of ws.slice(4)) {
          await w.sendWaiting("reserve\r\n");
        }
        await ws[2]!.close(); // may or may not be waiting, depending on the order above
        await p.cmd("stats-tube t\r\n");
        for (let i = 0; i < 4; i++) {
          await p.cmd(`put 0 0 10 1\r\n${i}\r\n`);
          await r.whoGets(ws, 1000);
        }
        await p.cmd("stats-tube t\r\n");
        await p.cmd("stats\r\n");
      }));

    test("a put wakes a reserve waiting on any watched tube; the best priority across tubes wins", () =>
      same(async (r) => {
        const w = await r.conn();
        await w.cmd("watch a\r\n");
        await w.cmd("watch b\r\n");
        await w.sendWaiting("reserve\r\n");
        const p = await r.conn();
        await p.cmd("use b\r\n");
        await p.cmd("put 5 0 10 2\r\nb1\r\n");
        await w.reply();
        await p.cmd("put 9 0 10 2\r\nb2\r\n");
        await p.cmd("use a\r\n");
        await p.cmd("put 1 0 10 2\r\na1\r\n");
        await p.cmd("put 9 0 10 2\r\na2\r\n");
        await w.cmd("reserve\r\n");
        await w.cmd("reserve\r\n"); // b2 and a2 tie on priority: the smaller id wins
        await w.cmd("reserve\r\n");
        await w.cmd("reserve-with-timeout 0\r\n");
        // Waiters on different tube sets.
        const [x, y] = await r.conns_(2);
        await x.cmd("watch a\r\n");
        await x.cmd("ignore default\r\n");
        await y.cmd("watch b\r\n");
        await y.cmd("ignore default\r\n");
        await x.sendWaiting("reserve\r\n");
        await y.sendWaiting("reserve\r\n");
        await w.sendWaiting("reserve\r\n");
        await p.cmd("use b\r\n");
        await p.cmd("put 0 0 10 2\r\nb3\r\n");
        await r.whoGets([w, x, y]);
        await p.cmd("use default\r\n");
        await p.cmd("put 0 0 10 2\r\nd1\r\n");
        await r.whoGets([w, x, y]);
        await p.cmd("use a\r\n");
        await p.cmd("put 0 0 10 2\r\na3\r\n");
        await r.whoGets([w, x, y]);
        await p.cmd("stats\r\n");
      }));

    test("list-tubes order after tubes vanish (the last tube moves into the hole)", () =>
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
        const [d, e, f] = await r.conns_(3);
        await d.cmd("use u1\r\n");
        await e.cmd("watch u2\r\n");
        await f.cmd("use u3\r\n");
        await f.cmd("put 0 0 10 1\r\ny\r\n");
        await f.cmd("use u4\r\n");
        await c.cmd("list-tubes\r\n");
        await d.close();
        await c.cmd("list-tubes\r\n");
        await c.cmd("ignore default\r\n");
        await c.cmd("list-tubes\r\n");
        await c.cmd("watch default\r\n");
        await c.cmd("delete 2\r\n");
        await c.cmd("list-tubes\r\n");
        await e.close();
        await c.cmd("list-tubes\r\n");
        await c.cmd("stats\r\n");
      }));

    test("a waiting reserve whose client half-closes gets TIMED_OUT", () =>
      same(async (r) => {
        const a = await r.conn();
        a.send("reserve\r\n");
        await a.none(200);
        a.end();
        await a.reply();
        await a.reply(10_000); // the server closes: <closed>
      }));

    test("drain mode (SIGUSR1) refuses new jobs", () =>
      same(async (r) => {
        const c = await r.conn();
        await c.cmd("put 0 0 10 1\r\na\r\n");
        process.kill(r.server.pid, "SIGUSR1");
        await sleep(300);
        await c.cmd("put 0 0 10 1\r\nb\r\n");
        await c.cmd("list-tube-used\r\n");
        await c.cmd("reserve\r\n");
        await c.cmd("stats\r\n");
      }));
  });

  describe("framing", () => {
    test("a whole session sent one byte per packet", () =>
      same(async (r) => {
        const c = await r.conn();
        await c.bytewise(
          "use bw\r\nput 1 0 10 6\r\na\r\nb\r\n\r\nwatch bw\r\nreserve\r\nstats-job 1\r\nrelease 1 0 0\r\npeek-ready\r\nbogus\r\ndelete 1\r\n",
        );
        await c.replies(9);
        await c.none(100);
      }));

    test("many commands pipelined in one packet, replies in order", () =>
      same(async (r) => {
        const c = await r.conn();
        const parts: string[] = ["use pipe\r\n", "watch pipe\r\n", "ignore default\r\n"];
        for (let i = 0; i < 20; i++) parts.push(`put ${i % 3} 0 10 ${String(i).length + 2}\r\n\r${i}\n\r\n`);
        parts.push("bogus\r\n", "put 0 0 10 x\r\n", "peek-ready\r\n", "stats-tube pipe\r\n");
        for (let i = 0; i < 10; i++) parts.push("reserve\r\n");
        for (let i = 1; i <= 10; i++) parts.push(`delete ${i}\r\n`);
        parts.push("kick 5\r\n", "list-tubes\r\n", "list-tubes-watched\r\n", "stats\r\n");
        c.send(parts.join(""));
        await c.replies(parts.length);
        await c.none(100);
      }));

    test("binary bodies: every byte value, CRLF and command text inside, empty body", () =>
      same(async (r) => {
        const c = await r.conn();
        let all = "";
        for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
        await c.cmd(`put 0 0 10 256\r\n${all}\r\n`);
        await c.cmd("put 0 0 10 2\r\n\r\n\r\n");
        await c.cmd("put 0 0 10 17\r\n\r\nput 0 0 1 1\r\nx\r\n\r\n");
        await c.cmd("put 0 0 10 0\r\n\r\n");
        await c.cmd(`put 0 0 10 512\r\n${all}${all}\r\n`);
        for (let i = 1; i <= 5; i++) await c.cmd(`peek ${i}\r\n`);
        for (let i = 1; i <= 5; i++) await c.cmd("reserve\r\n");
        await c.cmd("stats\r\n");
      }));
  });
});

if (!BEANSTALKD) {
  test.skip("differential tests need beanstalkd (apt-get install beanstalkd)", () => {});
}

describe.skipIf(SUBJECT !== "ours")("beanrun on its own (no reference quirks to work around)", () => {
  test("TTR expiry of an idle connection's job happens without any further command", async () => {
    const s = await startSubject();
    const [a, b] = [await Wire.open(s.port), await Wire.open(s.port)];
    try {
      expect(await a.cmd("put 0 0 1 1\r\nx\r\n")).toBe("INSERTED 1\r\n");
      expect(await a.cmd("reserve\r\n")).toBe("RESERVED 1 1\r\nx\r\n");
      b.send("reserve-with-timeout 5\r\n");
      // Nothing more is sent on `a`: the job must come back by itself after ~1 s.
      expect(await b.reply(4000)).toBe("RESERVED 1 1\r\nx\r\n");
      const st = await b.cmd("stats-job 1\r\n");
      expect(st).toContain("\nreserves: 2\n");
      expect(st).toContain("\ntimeouts: 1\n");
    } finally {
      a.close();
      b.close();
      await s.stop();
    }
  });
});

describe.skipIf(!BEANSTALKD)(`more edge cases, same bytes as beanstalkd 1.12: ${subjectName}`, () => {
  test("list-tubes-watched order after ignores (the last watched tube moves into the hole)", () =>
    same(async (r) => {
      const c = await r.conn();
      for (const t of ["a", "b", "c", "d", "e"]) await c.cmd(`watch ${t}\r\n`);
      await c.cmd("list-tubes-watched\r\n");
      await c.cmd("ignore b\r\n");
      await c.cmd("list-tubes-watched\r\n");
      await c.cmd("ignore default\r\n");
      await c.cmd("list-tubes-watched\r\n");
      await c.cmd("watch b\r\n");
      await c.cmd("watch default\r\n");
      await c.cmd("list-tubes-watched\r\n");
      await c.cmd("list-tubes\r\n");
    }));

  test("commands pipelined behind a blocking reserve run after it returns", () =>
    same(async (r) => {
      const [w, p] = await r.conns_(2);
      w.send("reserve\r\nlist-tube-used\r\nstats-job 1\r\n");
      await w.none(300);
      await p.cmd("put 0 0 10 2\r\nhi\r\n");
      await w.replies(3);
      w.send("reserve-with-timeout 1\r\nlist-tube-used\r\n");
      await w.reply(3000);
      await w.reply();
    }));

  test("urgent counters follow priority changes on release, bury and kick", () =>
    same(async (r) => {
      const c = await r.conn();
      await c.cmd("put 0 0 60 1\r\na\r\n");
      await c.cmd("put 2000 0 60 1\r\nb\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("release 1 5000 0\r\n");
      await c.cmd("stats-tube default\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("release 2 1 0\r\n");
      await c.cmd("stats-tube default\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("bury 2 7\r\n");
      await c.cmd("stats-tube default\r\n");
      await c.cmd("kick 1\r\n");
      await c.cmd("stats-tube default\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("release 2 3 10\r\n");
      await c.cmd("stats-tube default\r\n");
      await c.cmd("kick-job 2\r\n");
      await c.cmd("stats-tube default\r\n");
      await c.cmd("stats\r\n");
    }));

  test("tubes vanish when unused, paused or not; the default tube never does", () =>
    same(async (r) => {
      const [c, d] = await r.conns_(2);
      await c.cmd("use p\r\n");
      await c.cmd("put 0 0 60 1\r\nx\r\n");
      await c.cmd("pause-tube p 60\r\n");
      await c.cmd("use default\r\n");
      await d.cmd("stats-tube p\r\n");
      await d.cmd("delete 1\r\n");
      await d.cmd("stats-tube p\r\n");
      await d.cmd("list-tubes\r\n");
      await d.cmd("watch q\r\n");
      await d.cmd("use q\r\n");
      await d.cmd("ignore default\r\n");
      await c.cmd("watch q\r\n");
      await c.cmd("ignore default\r\n");
      await c.cmd("use q\r\n");
      await c.cmd("stats-tube default\r\n");
      await c.cmd("list-tubes\r\n");
      await c.cmd("stats\r\n");
    }));

  test("reserve-with-timeout is not woken by a put to an unwatched tube; release wakes a waiter", () =>
    same(async (r) => {
      const [w, p] = await r.conns_(2);
      await w.cmd("watch only\r\n");
      await w.cmd("ignore default\r\n");
      await w.sendWaiting("reserve-with-timeout 1\r\n");
      await p.cmd("put 0 0 10 1\r\nx\r\n");
      await w.reply(3000);
      await p.cmd("use only\r\n");
      await p.cmd("put 0 0 10 1\r\ny\r\n");
      await p.cmd("watch only\r\n");
      await p.cmd("reserve-job 2\r\n");
      await w.sendWaiting("reserve-with-timeout 5\r\n");
      await p.cmd("release 2 0 0\r\n");
      await w.reply(3000);
      await p.cmd("stats-tube only\r\n");
    }));

  test("-z 0: only empty bodies fit", () =>
    same(async (r) => {
      const c = await r.conn();
      await c.cmd("put 0 0 10 0\r\n\r\n");
      await c.cmd("put 0 0 10 1\r\nx\r\n");
      await c.cmd("stats\r\n");
    }, maxJobSize(0)));

  test("bodies around the arena's size classes, freed and reused with new contents, come back intact", () =>
    same(async (r) => {
      const c = await r.conn();
      // Stored size is body + 2: around the small/large split (4096) and large class edges.
      const sizes = [4093, 4094, 4095, 4606, 4607, 8190, 8191, 10239, 10240, 10241, 65535];
      const body = (n: number, k: number) => {
        let s = "";
        for (let i = 0; i < n; i++) s += String.fromCharCode((i * 13 + k) & 255);
        return s;
      };
      for (let round = 0; round < 2; round++) {
        for (const n of sizes) await c.cmd(`put 0 0 60 ${n}\r\n${body(n, round)}\r\n`);
        const base = round * sizes.length;
        for (let i = 1; i <= sizes.length; i++) await c.cmd(`peek ${base + i}\r\n`);
        for (let i = 1; i <= sizes.length; i++) await c.cmd("reserve\r\n");
        for (let i = 1; i <= sizes.length; i++) await c.cmd(`delete ${base + i}\r\n`);
      }
    }));

  test("-z 100000: bodies above 65535 are accepted", () =>
    same(async (r) => {
      const c = await r.conn();
      await c.cmd(`put 0 0 10 100000\r\n${"z".repeat(100000)}\r\n`);
      await c.cmd(`put 0 0 10 100001\r\n${"z".repeat(100001)}\r\n`);
      await c.cmd("reserve\r\n");
      await c.cmd("stats\r\n");
    }, maxJobSize(100_000)));

  test("a closing connection with reserved jobs feeds waiters on several tubes", () =>
    same(async (r) => {
      const [a, x, y, p] = await r.conns_(4);
      await p.cmd("use t1\r\n");
      await p.cmd("put 3 0 60 2\r\nj1\r\n");
      await p.cmd("use t2\r\n");
      await p.cmd("put 1 0 60 2\r\nj2\r\n");
      await p.cmd("put 2 0 60 2\r\nj3\r\n");
      for (const t of ["t1", "t2"]) await a.cmd(`watch ${t}\r\n`);
      for (let i = 0; i < 3; i++) await a.cmd("reserve\r\n");
      await x.cmd("watch t1\r\n");
      await x.cmd("ignore default\r\n");
      await y.cmd("watch t2\r\n");
      await y.cmd("watch t1\r\n");
      await x.sendWaiting("reserve\r\n");
      await y.sendWaiting("reserve\r\n");
      await p.cmd("stats\r\n");
      await a.close();
      await r.whoGets([x, y]);
      await x.cmd("reserve-with-timeout 0\r\n");
      await y.cmd("reserve-with-timeout 0\r\n");
      await p.cmd("stats-tube t1\r\n");
      await p.cmd("stats-tube t2\r\n");
    }));

  test("peek and stats-job of delayed jobs count down; a delayed job kicked keeps its priority order", () =>
    same(async (r) => {
      const c = await r.conn();
      await c.cmd("put 9 30 60 1\r\na\r\n");
      await c.cmd("put 1 20 60 1\r\nb\r\n");
      await c.cmd("put 5 0 60 1\r\nc\r\n");
      await c.cmd("peek-delayed\r\n");
      await c.cmd("stats-job 1\r\n");
      await c.cmd("kick 2\r\n");
      await c.cmd("peek-ready\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("stats-job 1\r\n");
      await c.cmd("stats\r\n");
    }));
});

describe.skipIf(!BEANSTALKD)(`volume and half-close, same bytes as beanstalkd 1.12: ${subjectName}`, () => {
  test("150 tubes with 200-byte names: list-tubes, list-tubes-watched, stats-tube", () =>
    same(async (r) => {
      const c = await r.conn();
      const names = Array.from({ length: 150 }, (_, i) => `${String(i).padStart(3, "0")}${"n".repeat(197)}`);
      c.send(names.map((n) => `watch ${n}\r\n`).join(""));
      await c.replies(150);
      await c.cmd("list-tubes-watched\r\n");
      await c.cmd("list-tubes\r\n");
      await c.cmd(`stats-tube ${names[149]}\r\n`);
      for (const n of names.slice(0, 75)) c.send(`ignore ${n}\r\n`);
      await c.replies(75);
      await c.cmd("list-tubes\r\n");
      await c.cmd("stats\r\n");
    }));

  test("a client that half-closes after pipelined commands still gets every reply", () =>
    same(async (r) => {
      const c = await r.conn();
      c.send("use hc\r\nput 0 0 10 3\r\nabc\r\nlist-tube-used\r\npeek-ready\r\n");
      c.end();
      await c.replies(5);
      const d = await r.conn();
      await d.cmd("stats-tube hc\r\n");
      await d.cmd("stats\r\n");
    }));

  // Issue 12 item 8: after a half-close (FIN), beanstalkd answers every
  // reserve that would wait with TIMED_OUT at once (prot.c: STATE_WAIT with
  // c->halfclosed), serves what is pipelined behind it, then closes.
  describe("reserves after the client half-closed", () => {
    /** Sends one packet, half-closes, records every reply until the server closes, then looks at stats. */
    const halfClose = (packet: string, setup?: (r: Run) => Promise<void>) =>
      same(async (r) => {
        if (setup) await setup(r);
        const c = await r.conn();
        c.send(packet);
        c.end();
        await c.drain(10_000); // until the server closes
        const d = await r.conn();
        await d.cmd("stats\r\n");
      });

    test("reserve-with-timeout 0, then reserve", () => halfClose("reserve-with-timeout 0\r\nreserve\r\n"));
    test("a reserve behind a delayed put", () => halfClose("put 0 1 10 1\r\nx\r\nreserve\r\nreserve\r\nstats-job 1\r\n"));
    test("reserve, release with a delay, reserve again", () =>
      halfClose("put 0 0 10 1\r\nx\r\nreserve\r\nrelease 1 0 1\r\nreserve\r\nreserve-with-timeout 3\r\npeek-delayed\r\n"));
    test("a long reserve-with-timeout, then a reserve with a job ready", () =>
      halfClose("reserve-with-timeout 5\r\nput 0 0 10 1\r\ny\r\nreserve\r\nreserve\r\n"));
    test("a reserve waiting when the FIN comes, with more pipelined behind it", () =>
      same(async (r) => {
        const c = await r.conn();
        c.send("watch w\r\nreserve\r\nreserve-with-timeout 0\r\nlist-tubes-watched\r\nreserve\r\n");
        await c.reply();
        await c.none(200);
        c.end();
        await c.drain(10_000); // until the server closes
        const d = await r.conn();
        await d.cmd("stats\r\n");
      }));
  });

  test("40 connections each put and reserve: producer, worker and connection counters", () =>
    same(async (r) => {
      const cs = await r.conns_(40);
      for (const [i, c] of cs.entries()) {
        await c.cmd(`use t${i % 4}\r\n`);
        await c.cmd(`put ${i} 0 60 1\r\n${i % 10}\r\n`);
      }
      for (const [i, c] of cs.entries()) {
        await c.cmd(`watch t${(i + 1) % 4}\r\n`);
        if (i % 3 === 0) await c.cmd("reserve-with-timeout 0\r\n");
      }
      const s = await r.conn();
      await s.cmd("stats\r\n");
      for (const c of cs.slice(0, 20)) await c.close();
      await s.cmd("stats\r\n");
      for (let i = 0; i < 4; i++) await s.cmd(`stats-tube t${i}\r\n`);
    }));
});

describe.skipIf(!BEANSTALKD)(`timing interplay, same bytes as beanstalkd 1.12: ${subjectName}`, () => {
  test("jobs put or made ready in a paused tube wait for the pause to end; kick still works there", () =>
    same(async (r) => {
      const [c, w] = await r.conns_(2);
      await w.cmd("watch p\r\n");
      await w.cmd("ignore default\r\n");
      await w.sendWaiting("reserve\r\n");
      await c.cmd("use p\r\n");
      await c.cmd("pause-tube p 1\r\n");
      await c.cmd("put 0 0 10 1\r\na\r\n");
      await c.cmd("put 0 100 10 1\r\nb\r\n");
      await c.cmd("put 0 0 10 1\r\nc\r\n");
      await c.cmd("kick 1\r\n");
      await c.cmd("stats-tube p\r\n");
      await c.cmd("peek-ready\r\n");
      await w.reply(3000); // the pause ends at ~1 s
      await w.cmd("bury 1 0\r\n");
      await c.cmd("kick 1\r\n");
      await c.cmd("pause-tube p 60\r\n");
      await c.cmd("kick-job 1\r\n");
      await c.cmd("stats-tube p\r\n");
      await c.cmd("stats\r\n");
    }));

  test("reserve-with-timeout: TIMED_OUT before the safety margin, DEADLINE_SOON once inside it", () =>
    same(async (r) => {
      const c = await r.conn();
      await c.cmd("put 0 0 2 1\r\na\r\n");
      await c.cmd("reserve\r\n");
      await c.cmd("reserve-with-timeout 0\r\n", 3000); // the margin starts at 1 s
      c.send("reserve-with-timeout 10\r\n");
      await c.reply(3000);
      await c.cmd("touch 1\r\n");
      await c.cmd("reserve-with-timeout 0\r\n");
      await c.cmd("delete 1\r\n");
      await c.cmd("reserve-with-timeout 0\r\n");
      await c.cmd("stats\r\n");
    }));

  test("a released job with a delay reaches a waiting connection when the delay ends", () =>
    same(async (r) => {
      const [a, w] = await r.conns_(2);
      await a.cmd("put 7 0 10 1\r\nx\r\n");
      await a.cmd("reserve\r\n");
      await w.sendWaiting("reserve\r\n");
      await a.cmd("release 1 3 1\r\n");
      await a.cmd("stats-job 1\r\n");
      await w.reply(3000);
      await w.cmd("stats-job 1\r\n");
      await a.cmd("stats\r\n");
    }));
});
