/**
 * The typed client (runtime/client) against the real beanstalkd 1.12, plus a
 * few framing and connection-loss cases against a scripted node:net server
 * (the only way to choose exactly how replies are split into packets, or to
 * have a server send garbage).
 *
 * Run: node_modules/.bin/bun test test/client.test.ts --timeout 30000
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as net from "node:net";
import {
  BeanstalkError,
  Client,
  ConnectionError,
  connect,
  DEFAULT_PRIORITY,
  Job,
  json,
  parseYamlList,
  parseYamlMap,
  type Reply,
  ReplyParseError,
  ReplyParser,
  text,
} from "../runtime/client/index.ts";
import { BEANSTALKD, freePort, type ServerProcess, startReference } from "./support/servers.ts";

const MAX_JOB_SIZE = 65535; // beanstalkd's default -z

let server: ServerProcess | null = null;
let port = 0;
const clients: Client[] = [];

async function client(): Promise<Client> {
  const c = await Client.connect({ host: "127.0.0.1", port });
  clients.push(c);
  return c;
}

/** A client watching and using only `tube` (tests share one server). */
async function on(tube: string): Promise<Client> {
  const c = await client();
  await Promise.all([c.use(tube), c.watch(tube), c.ignore("default")]);
  return c;
}

beforeAll(async () => {
  if (!BEANSTALKD) throw new Error("beanstalkd is not installed");
  server = await startReference();
  port = server.port;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

describe("against beanstalkd 1.12", () => {
  test("producer commands: put with options, use, list-tube-used, peeks", async () => {
    const c = await on("prod");
    expect(await c.use("prod")).toBe("prod");
    expect(await c.listTubeUsed()).toBe("prod");
    const a = await c.put("first", { priority: 7, ttr: 30 });
    const b = await c.put(new TextEncoder().encode("second"));
    const d = await c.put("later", { delay: 100 });
    expect(b).toBe(a + 1);
    const sa = await c.statsJob(a);
    expect(sa).toMatchObject({ id: a, tube: "prod", state: "ready", pri: 7, ttr: 30, delay: 0 });
    const sb = await c.statsJob(b);
    expect(sb.pri).toBe(DEFAULT_PRIORITY);
    expect(sb.ttr).toBe(60);
    expect((await c.statsJob(d)).state).toBe("delayed");
    expect((await c.statsJob(d)).delay).toBe(100);

    const pr = (await c.peekReady())!;
    expect(pr).toBeInstanceOf(Job);
    expect(pr.id).toBe(a);
    expect(pr.text()).toBe("first");
    expect((await c.peekDelayed())!.id).toBe(d);
    expect(await c.peekBuried()).toBeNull();
    expect(text((await c.peek(b))!)).toBe("second");
    expect(await c.peek(999999)).toBeNull();
    await Promise.all([c.delete(a), c.delete(b), c.delete(d)]);
    expect(await c.peekReady()).toBeNull();
    expect(await c.peekDelayed()).toBeNull();
  });

  test("worker commands: reserve, touch, release, bury, kick, kick-job, reserve-job, delete", async () => {
    const c = await on("work");
    const id = await c.put(JSON.stringify({ n: 1 }), { priority: 3, ttr: 10 });
    const job = await c.reserve();
    expect(job.id).toBe(id);
    expect(job.json<{ n: number }>()).toEqual({ n: 1 });
    expect(json<{ n: number }>(job)).toEqual({ n: 1 });
    expect((await c.statsJob(id)).state).toBe("reserved");
    await c.touch(id);
    await c.release(id, 5, 0);
    expect(await c.statsJob(id)).toMatchObject({ state: "ready", pri: 5, releases: 1 });

    const again = (await c.reserveWithTimeout(0))!;
    expect(again.id).toBe(id);
    await c.bury(id, 9);
    expect(await c.statsJob(id)).toMatchObject({ state: "buried", pri: 9, buries: 1 });
    expect((await c.peekBuried())!.id).toBe(id);
    expect(await c.kick(10)).toBe(1);
    expect((await c.statsJob(id)).state).toBe("ready");

    const delayed = await c.put("d", { delay: 100 });
    await c.kickJob(delayed);
    expect(await c.statsJob(delayed)).toMatchObject({ state: "ready", kicks: 1 });
    const byId = (await c.reserveJob(delayed))!;
    expect(byId.id).toBe(delayed);
    expect(byId.text()).toBe("d");
    expect(await c.reserveJob(999999)).toBeNull();
    await c.delete(delayed);
    await c.delete(id);
    expect(await c.reserveWithTimeout(0)).toBeNull(); // TIMED_OUT
  });

  test("release with a delay, kick of delayed jobs, pause-tube", async () => {
    const c = await on("pausing");
    const id = await c.put("x");
    await c.reserve();
    await c.release(id, DEFAULT_PRIORITY, 100);
    expect((await c.statsJob(id)).state).toBe("delayed");
    expect(await c.kick(5)).toBe(1);
    await c.pauseTube("pausing", 100);
    const ts = await c.statsTube("pausing");
    expect(ts.pause).toBe(100);
    expect(ts["pause-time-left"]).toBeGreaterThan(90);
    expect(await c.reserveWithTimeout(0)).toBeNull();
    await c.pauseTube("pausing", 0);
    expect((await c.reserveWithTimeout(0))!.id).toBe(id);
    await c.delete(id);
  });

  test("watch, ignore, list-tubes, list-tubes-watched", async () => {
    const c = await client();
    expect(await c.listTubesWatched()).toEqual(["default"]);
    expect(await c.watch("w1")).toBe(2);
    expect(await c.watch("w2")).toBe(3);
    expect(await c.watch("w2")).toBe(3);
    expect(await c.listTubesWatched()).toEqual(["default", "w1", "w2"]);
    expect(await c.ignore("default")).toBe(2);
    expect(await c.ignore("w1")).toBe(1);
    const err = await c.ignore("w2").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BeanstalkError);
    expect(err).toMatchObject({ code: "NOT_IGNORED", command: "ignore", message: "ignore: NOT_IGNORED" });
    const tubes = await c.listTubes();
    expect(tubes).toContain("default");
    expect(tubes).toContain("w2");
    expect(tubes).not.toContain("w1"); // nobody refers to it any more: gone
  });

  test("stats, stats-tube, stats-job: typed values and a raw map", async () => {
    const c = await on("st");
    const id = await c.put("abc", { priority: 10 });
    const s = await c.stats();
    expect(typeof s["cmd-put"]).toBe("number");
    expect(s["cmd-put"]).toBeGreaterThanOrEqual(1);
    expect(s["max-job-size"]).toBe(MAX_JOB_SIZE);
    expect(s.version).toBe("1.12");
    expect(s.draining).toBe(false);
    expect(typeof s["rusage-utime"]).toBe("number");
    expect(typeof s.id).toBe("string");
    expect(typeof s.hostname).toBe("string");
    expect(s.pid).toBe(server!.pid);
    expect(s.raw.version).toBe("1.12");
    expect(s.raw.draining).toBe("false");
    expect(s.raw["cmd-put"]).toBe(String(s["cmd-put"]));
    expect(Object.keys(s)).not.toContain("raw"); // non-enumerable

    const t = await c.statsTube("st");
    expect(t).toMatchObject({
      name: "st",
      "current-jobs-ready": 1,
      "current-jobs-urgent": 1,
      "total-jobs": 1,
      "current-using": 1,
      "current-watching": 1,
    });
    const j = await c.statsJob(id);
    expect(j).toEqual({
      id,
      tube: "st",
      state: "ready",
      pri: 10,
      age: j.age,
      delay: 0,
      ttr: 60,
      "time-left": 0,
      file: 0,
      reserves: 0,
      timeouts: 0,
      releases: 0,
      buries: 0,
      kicks: 0,
    } as typeof j);
    expect(j.raw.pri).toBe("10");

    // A tube whose name looks like a number keeps it as a string.
    const n = await on("42");
    await n.put("x");
    expect((await n.statsTube("42")).name).toBe("42");
    expect((await n.peekReady())!.text()).toBe("x");
  });

  test("error replies become BeanstalkError with the protocol word", async () => {
    const c = await on("errs");
    const code = (p: Promise<unknown>): Promise<unknown> =>
      p.then(
        () => "resolved",
        (e: unknown) => (e instanceof BeanstalkError ? e.code : e),
      );
    expect(await code(c.delete(999999))).toBe("NOT_FOUND");
    expect(await code(c.release(999999))).toBe("NOT_FOUND");
    expect(await code(c.bury(999999))).toBe("NOT_FOUND");
    expect(await code(c.touch(999999))).toBe("NOT_FOUND");
    expect(await code(c.kickJob(999999))).toBe("NOT_FOUND");
    expect(await code(c.statsJob(999999))).toBe("NOT_FOUND");
    expect(await code(c.statsTube("no-such-tube"))).toBe("NOT_FOUND");
    expect(await code(c.pauseTube("no-such-tube", 1))).toBe("NOT_FOUND");
    expect(await c.statsJob(999999).catch((e: Error) => e.message)).toBe("stats-job: NOT_FOUND");
    // beanstalkd caps names at 200 bytes.
    expect(await code(c.use("x".repeat(201)))).toBe("BAD_FORMAT");
    expect(await code(c.watch("-leading-hyphen"))).toBe("BAD_FORMAT");
    // Too big: the server reads and discards the body, and the connection stays usable.
    expect(await code(c.put(new Uint8Array(MAX_JOB_SIZE + 1)))).toBe("JOB_TOO_BIG");
    const max = await c.put(new Uint8Array(MAX_JOB_SIZE).fill(7));
    expect((await c.peek(max))!.body.length).toBe(MAX_JOB_SIZE);
    await c.delete(max);
    expect(await c.listTubeUsed()).toBe("errs");
  });

  test("DEADLINE_SOON while holding a job about to time out", async () => {
    const c = await on("deadline");
    const id = await c.put("x", { ttr: 1 });
    expect((await c.reserve()).id).toBe(id);
    const e = await c.reserveWithTimeout(2).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BeanstalkError);
    expect((e as BeanstalkError).code).toBe("DEADLINE_SOON");
    await c.delete(id).catch(() => {}); // it may have timed out by now
  });

  test("bad arguments are refused before anything is sent", async () => {
    const c = await on("args");
    await expect(c.put("x", { priority: -1 })).rejects.toBeInstanceOf(TypeError);
    await expect(c.put("x", { delay: 1.5 })).rejects.toBeInstanceOf(TypeError);
    await expect(c.delete(Number.NaN)).rejects.toBeInstanceOf(TypeError);
    await expect(c.use("two words")).rejects.toBeInstanceOf(TypeError);
    await expect(c.watch("a\r\nput 0 0 1 1")).rejects.toBeInstanceOf(TypeError);
    await expect(c.use("")).rejects.toBeInstanceOf(TypeError);
    expect(c.pending).toBe(0);
    expect(await c.listTubeUsed()).toBe("args");
  });

  test("binary bodies: every byte value, CRLF inside, empty, large", async () => {
    const c = await on("bin");
    const all = new Uint8Array(512);
    for (let i = 0; i < all.length; i++) all[i] = i & 255;
    const crlf = new TextEncoder().encode("\r\n\r\nRESERVED 1 2\r\nOK 5\r\n\r\n");
    const big = new Uint8Array(60000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 255;
    big.set([13, 10], 30000);
    const bodies = [
      all,
      crlf,
      new Uint8Array(0),
      new Uint8Array([13]),
      new Uint8Array([10]),
      big,
      new Uint8Array([0, 13, 10, 255, 13, 10]),
    ];
    const ids = await Promise.all(bodies.map((b) => c.put(b)));
    const peeked = await Promise.all(ids.map((id) => c.peek(id)));
    peeked.forEach((j, i) => expect(j!.body).toEqual(bodies[i]!));
    for (const want of bodies) {
      const got = await c.reserve();
      expect(got.body).toEqual(want);
      expect(got.body.constructor).toBe(Uint8Array);
      await c.delete(got.id);
    }
    // UTF-8 text round trip.
    const id = await c.put("héllo → 世界 \r\n 🎉");
    expect((await c.peek(id))!.text()).toBe("héllo → 世界 \r\n 🎉");
    await c.delete(id);
  });

  test("pipelining: 1000 concurrent puts, replies matched in order", async () => {
    const c = await on("pipe");
    const bodies = Array.from({ length: 1000 }, (_, i) => `job-${i}\r\n${"x".repeat(i % 50)}`);
    const ids = await Promise.all(bodies.map((b, i) => c.put(b, { priority: i })));
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBe(ids[0]! + i);
    // Mixed commands in one batch: each reply goes to its own caller.
    const [s, p, stats, used, missing, watched] = await Promise.all([
      c.statsJob(ids[500]!),
      c.peek(ids[999]!),
      c.statsTube("pipe"),
      c.listTubeUsed(),
      c.peek(1e9).catch((e: unknown) => e),
      c.listTubesWatched(),
    ]);
    expect(s.pri).toBe(500);
    expect(p!.text()).toBe(bodies[999]!);
    expect(stats["current-jobs-ready"]).toBe(1000);
    expect(used).toBe("pipe");
    expect(missing).toBeNull();
    expect(watched).toEqual(["pipe"]);
    const jobs = await Promise.all(ids.map(() => c.reserve()));
    expect(jobs.map((j) => j.id)).toEqual(ids); // priority order = put order
    jobs.forEach((j, i) => expect(j.text()).toBe(bodies[i]!));
    await Promise.all(ids.map((id) => c.delete(id)));
    expect(c.pending).toBe(0);
    expect((await c.statsTube("pipe"))["current-jobs-ready"]).toBe(0);
  });

  test("a blocking reserve is answered when another connection puts", async () => {
    const worker = await on("handoff");
    const producer = await on("handoff");
    const waiting = worker.reserveWithTimeout(5);
    await Bun.sleep(20);
    const id = await producer.put("go");
    const job = (await waiting)!;
    expect(job.id).toBe(id);
    await worker.delete(id);
  });

  test("connect(port, host), quit(), and commands after quit", async () => {
    const c = await connect(port, "127.0.0.1");
    await c.use("q");
    const before = c.put("x");
    const quitting = c.quit();
    await expect(c.listTubeUsed()).rejects.toBeInstanceOf(ConnectionError);
    const id = await before; // sent before quit: still answered
    await quitting;
    expect(c.closed).toBe(true);
    const e = await c.listTubeUsed().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConnectionError);
    expect((e as ConnectionError).code).toBe("CONNECTION_CLOSED");
    const d = await client();
    await d.delete(id);
  });

  test("close() rejects every waiting command and notifies listeners once", async () => {
    const c = await on("closing");
    const waiting = [c.reserve(), c.reserveWithTimeout(10), c.listTubeUsed()];
    let closes = 0;
    let reason: ConnectionError | null = null;
    c.on("close", (e) => {
      closes++;
      reason = e;
    });
    c.onClose(() => closes++);
    await Bun.sleep(10);
    c.close();
    c.close();
    for (const p of waiting) {
      const e = await p.catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ConnectionError);
      expect((e as ConnectionError).code).toBe("CONNECTION_CLOSED");
      expect((e as Error).message).toMatch(/^(reserve|reserve-with-timeout|list-tube-used): connection closed by client$/);
    }
    expect(closes).toBe(2);
    expect(reason!.code).toBe("CONNECTION_CLOSED");
    expect(c.closed).toBe(true);
    await expect(c.put("x")).rejects.toBeInstanceOf(ConnectionError);
    let late = false;
    c.onClose(() => (late = true)); // registered after the fact: runs at once
    expect(late).toBe(true);
  });

  test("connecting to a port nobody listens on rejects", async () => {
    const unused = await freePort();
    await expect(Client.connect({ port: unused })).rejects.toThrow();
  });
});

// ---- scripted server: framing and connection loss -----------------------------

/** A one-connection server that answers each command with the next scripted reply, written in the given pieces. */
async function scripted(onLine: (line: string, sock: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const server = net.createServer((sock) => {
    let buf = "";
    sock.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      let i: number;
      while ((i = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (line.startsWith("put ")) {
          const n = Number(line.split(" ")[4]);
          buf = buf.slice(n + 2); // test bodies arrive with their line
        }
        onLine(line, sock);
      }
    });
    sock.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

function writeInPieces(sock: net.Socket, bytes: Buffer, sizes: number[], gapMs = 2): void {
  let at = 0;
  let k = 0;
  const step = (): void => {
    if (at >= bytes.length || sock.destroyed) return;
    const n = sizes[k++ % sizes.length]!;
    sock.write(bytes.subarray(at, at + n));
    at += n;
    setTimeout(step, gapMs);
  };
  step();
}

describe("framing (scripted server)", () => {
  test("replies split across packets at every awkward place, and many replies in one packet", async () => {
    const body = Buffer.from("a\r\nb\r\n\r\n");
    const yaml = '---\n- default\n- "q"\n';
    const reply = Buffer.concat([
      Buffer.from(`RESERVED 7 ${body.length}\r\n`),
      body,
      Buffer.from(`\r\nINSERTED 8\r\nUSING tube\r\nOK ${yaml.length}\r\n${yaml}\r\nTIMED_OUT\r\nNOT_FOUND\r\n`),
    ]);
    let lines = 0;
    const srv = await scripted((_line, sock) => {
      if (++lines === 6) writeInPieces(sock, reply, [1, 2, 3, 5, 1, 13]);
    });
    const c = await Client.connect({ port: srv.port });
    const [job, id, used, tubes, timedOut, peeked] = await Promise.all([
      c.reserve(),
      c.put("x"),
      c.use("tube"),
      c.listTubes(),
      c.reserveWithTimeout(1),
      c.peek(1),
    ]);
    expect(job.id).toBe(7);
    expect(Buffer.from(job.body).equals(body)).toBe(true);
    expect(id).toBe(8);
    expect(used).toBe("tube");
    expect(tubes).toEqual(["default", "q"]);
    expect(timedOut).toBeNull();
    expect(peeked).toBeNull();
    c.close();
    srv.close();
  });

  test("a reply nobody asked for, or a malformed one, fails the connection with PROTOCOL_ERROR", async () => {
    const srv = await scripted((line, sock) => {
      if (line === "list-tube-used") sock.write("USING a\r\n");
      if (line === "watch x") setTimeout(() => sock.write("WATCHING 2\r\nWATCHING 3\r\n"), 5);
    });
    const c = await Client.connect({ port: srv.port });
    const closed = new Promise<ConnectionError>((r) => c.on("close", r));
    expect(await c.listTubeUsed()).toBe("a");
    expect(await c.watch("x")).toBe(2); // the second WATCHING has no command waiting for it
    const why = await closed;
    expect(why.code).toBe("PROTOCOL_ERROR");
    expect(why.message).toContain("no command waiting");
    expect(c.closed).toBe(true);
    srv.close();

    const srv2 = await scripted((_line, sock) => sock.write("FOUND 1 x\r\n"));
    const d = await Client.connect({ port: srv2.port });
    const e = (await d.peek(1).catch((x: unknown) => x)) as ConnectionError;
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e.code).toBe("PROTOCOL_ERROR");
    expect(e.message).toBe('peek: bad reply from server: bad data size in "FOUND 1 x"');
    srv2.close();
  });

  test("an unexpected reply word is a BeanstalkError UNEXPECTED and the connection stays usable", async () => {
    const srv = await scripted((line, sock) => sock.write(line === "delete 1" ? "WHATEVER 1\r\n" : "DELETED\r\n"));
    const c = await Client.connect({ port: srv.port });
    const e = (await c.delete(1).catch((x: unknown) => x)) as BeanstalkError;
    expect(e.code).toBe("UNEXPECTED");
    expect(e.reply).toBe("WHATEVER 1");
    await c.delete(2);
    c.close();
    srv.close();
  });

  test("put answered BURIED <id> rejects with code BURIED carrying the id", async () => {
    const srv = await scripted((_line, sock) => sock.write("BURIED 41\r\n"));
    const c = await Client.connect({ port: srv.port });
    const e = (await c.put("x").catch((x: unknown) => x)) as BeanstalkError;
    expect(e).toBeInstanceOf(BeanstalkError);
    expect(e.code).toBe("BURIED");
    expect(e.id).toBe(41);
    c.close();
    srv.close();
  });

  test("the server dropping the connection rejects waiting commands and fires 'close'", async () => {
    const srv = await scripted((line, sock) => {
      if (line === "use a") sock.write("USING a\r\n");
      else sock.destroy();
    });
    const c = await Client.connect({ port: srv.port });
    const closed = new Promise<ConnectionError>((r) => c.on("close", r));
    expect(await c.use("a")).toBe("a");
    const pending = [c.reserve(), c.stats(), c.put("x")];
    const results = await Promise.allSettled(pending);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      const e = (r as PromiseRejectedResult).reason as ConnectionError;
      expect(e).toBeInstanceOf(ConnectionError);
      expect(e.code).toBe("CONNECTION_CLOSED");
      expect(e.message).toContain("connection closed by server");
    }
    expect((await closed).code).toBe("CONNECTION_CLOSED");
    expect(c.closed).toBe(true);
    srv.close();
  });

  test("commands issued in the same tick go out in one write", async () => {
    const chunks: number[] = [];
    const server = net.createServer((sock) => {
      sock.on("data", (d: Buffer) => {
        chunks.push(d.length);
        const n = d.toString("latin1").split("\r\n").length - 1;
        sock.write("DELETED\r\n".repeat(n));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const c = await Client.connect({ port: (server.address() as net.AddressInfo).port });
    await Promise.all(Array.from({ length: 200 }, (_, i) => c.delete(i + 1)));
    expect(chunks.length).toBe(1);
    c.close();
    server.close();
  });
});

describe("ReplyParser", () => {
  const stream = (): Uint8Array => {
    const parts: Uint8Array[] = [];
    const enc = new TextEncoder();
    for (let i = 0; i < 50; i++) {
      const body = new Uint8Array(i * 37);
      for (let k = 0; k < body.length; k++) body[k] = (k * 13 + i) & 255;
      parts.push(enc.encode(`INSERTED ${i}\r\n`), enc.encode(`FOUND ${i} ${body.length}\r\n`), body, enc.encode("\r\n"));
    }
    parts.push(enc.encode("OK 0\r\n\r\nDELETED\r\n"));
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return all;
  };
  const parseIn = (bytes: Uint8Array, cut: (i: number) => number): Reply[] => {
    const out: Reply[] = [];
    const p = new ReplyParser((r) => out.push(r));
    for (let at = 0, i = 0; at < bytes.length; i++) {
      const n = Math.max(1, cut(i));
      p.push(bytes.slice(at, at + n));
      at += n;
    }
    expect(p.buffered).toBe(0);
    return out;
  };

  test("gives the same replies however the stream is cut", () => {
    const bytes = stream();
    const whole = parseIn(bytes, () => bytes.length);
    expect(whole.length).toBe(102);
    expect(whole[3]).toMatchObject({ word: "FOUND", args: ["1", "37"] });
    expect(whole[101]).toEqual({ word: "DELETED", args: [], body: null });
    expect(whole[100]!.body!.length).toBe(0);
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (const cut of [() => 1, () => 2, () => 7, () => 1 + Math.floor(rnd() * 300), () => 4096]) {
      expect(parseIn(bytes, cut)).toEqual(whole);
    }
  });

  test("a large body arriving in many small pieces is handled in linear time", () => {
    const size = 4_000_000;
    const enc = new TextEncoder();
    const head = enc.encode(`RESERVED 1 ${size}\r\n`);
    let got: Reply | null = null;
    const p = new ReplyParser((r) => (got = r));
    const t0 = performance.now();
    p.push(head);
    const piece = new Uint8Array(1000).fill(65);
    for (let i = 0; i < size / 1000; i++) p.push(piece);
    expect(got).toBeNull();
    p.push(enc.encode("\r\n"));
    expect(got!.body!.length).toBe(size);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  test("rejects lines without CRLF, bad sizes, and bodies not followed by CRLF", () => {
    const enc = new TextEncoder();
    const feed = (s: string): void => new ReplyParser(() => {}).push(enc.encode(s));
    expect(() => feed("INSERTED 1\n")).toThrow(ReplyParseError);
    expect(() => feed("OK -1\r\n")).toThrow(ReplyParseError);
    expect(() => feed("RESERVED 1\r\n")).toThrow(ReplyParseError);
    expect(() => feed("OK 2\r\nabcd")).toThrow(ReplyParseError);
    expect(() => feed("x".repeat(2000))).toThrow(ReplyParseError);
  });
});

describe("YAML subset", () => {
  test("maps and lists, 1.12 plain and 1.13 quoted", () => {
    expect(parseYamlMap('---\nname: default\nversion: "1.13"\nos: #1 SMP: x\n')).toEqual({
      name: "default",
      version: "1.13",
      os: "#1 SMP: x",
    });
    expect(parseYamlList('---\n- default\n- "a b"\n- x\n')).toEqual(["default", "a b", "x"]);
    expect(parseYamlList("---\n")).toEqual([]);
  });
});
