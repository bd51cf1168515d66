/**
 * The admin CLI (`beanrun stats|tubes|top|put|peek|kick|kick-job|delete|
 * delete-buried|pause`) run as real subprocesses against a real beanrun
 * server. Each test works in its own tubes, so tests never see each other's
 * jobs; the state is seeded and checked with the typed client.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Client } from "../runtime/client/index.ts";
import { BUN, ROOT, type ServerProcess, startOurs } from "./support/servers.ts";

let server: ServerProcess;
let client: Client;
let addr = "";

beforeAll(async () => {
  server = await startOurs();
  addr = `127.0.0.1:${server.port}`;
  client = await Client.connect({ port: server.port });
});
afterAll(async () => {
  client?.close();
  await server?.stop();
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  bytes: Uint8Array;
}

/** Runs `bun runtime/cli.ts ...args` with BEANRUN_SERVER pointing at the test server (unless `env` overrides it). */
async function cli(args: string[], opts: { stdin?: string | Uint8Array; env?: Record<string, string> } = {}): Promise<Result> {
  const proc = Bun.spawn([BUN, join(ROOT, "runtime/cli.ts"), ...args], {
    cwd: ROOT,
    env: { ...process.env, BEANRUN_SERVER: addr, ...opts.env },
    stdin: opts.stdin === undefined ? "ignore" : typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [bytes, stderr, code] = await Promise.all([
    new Response(proc.stdout as ReadableStream<Uint8Array>).bytes(),
    new Response(proc.stderr as ReadableStream<Uint8Array>).text(),
    proc.exited,
  ]);
  return { code, stdout: new TextDecoder().decode(bytes), stderr, bytes };
}

/** Puts jobs into `tube` with the test's own client; resolves with their ids. */
async function seed(tube: string, bodies: string[], opts: { priority?: number; delay?: number } = {}): Promise<number[]> {
  const c = await Client.connect({ port: server.port });
  await c.use(tube);
  const ids = await Promise.all(bodies.map((b) => c.put(b, opts)));
  await c.quit();
  return ids;
}

/** Puts `n` jobs into `tube` and buries them (reserve-job + bury); resolves with their ids. */
async function seedBuried(tube: string, n: number): Promise<number[]> {
  const ids = await seed(
    tube,
    Array.from({ length: n }, (_, i) => `dead ${i}`),
  );
  const c = await Client.connect({ port: server.port });
  for (const id of ids) {
    await c.reserveJob(id);
    await c.bury(id);
  }
  await c.quit();
  return ids;
}

const ADMIN = ["stats", "tubes", "top", "put", "peek", "kick", "kick-job", "delete", "delete-buried", "pause"];

describe("help and usage", () => {
  test("-h on every command prints its usage and exits 0; the dispatcher lists them all", async () => {
    const results = await Promise.all([...ADMIN.map((c) => cli([c, "-h"])), cli(["--help"])]);
    ADMIN.forEach((name, i) => {
      expect(results[i]!.code).toBe(0);
      expect(results[i]!.stdout).toStartWith(`Use: beanrun ${name} `);
      expect(results[i]!.stdout).toContain("-s, --server HOST:PORT");
    });
    const top = results[ADMIN.length]!;
    expect(top.code).toBe(0);
    for (const name of ADMIN) expect(top.stdout).toContain(`  ${name} `);
  });

  test("bad flags and arguments print the usage on stderr and exit 2", async () => {
    const [unknown, missing, extra, badId, badPri, badState, badTube, badInterval, badAddr, noValue] = await Promise.all([
      cli(["stats", "--bogus"]),
      cli(["put"]),
      cli(["tubes", "extra"]),
      cli(["delete", "12x"]),
      cli(["put", "t", "body", "--pri", "-1"]),
      cli(["peek", "t", "sideways"]),
      cli(["put", "bad tube", "x"]),
      cli(["top", "--interval", "0"]),
      cli(["stats", "-s", "nonsense"]),
      cli(["put", "t", "x", "--ttr"]),
    ]);
    const cases: Array<[Result, string]> = [
      [unknown, 'beanrun stats: unknown flag "--bogus"'],
      [missing, "beanrun put: missing argument"],
      [extra, 'beanrun tubes: unexpected argument "extra"'],
      [badId, 'beanrun delete: job id must be a non-negative integer, got "12x"'],
      [badPri, 'beanrun put: --pri must be a non-negative integer, got "-1"'],
      [badState, 'beanrun peek: expected ready, delayed or buried after the tube, got "sideways"'],
      [badTube, 'beanrun put: invalid tube name "bad tube"'],
      [badInterval, 'beanrun top: --interval must be a positive number of seconds, got "0"'],
      [badAddr, 'beanrun stats: expected HOST:PORT, got "nonsense"'],
      [noValue, "beanrun put: --ttr requires a value"],
    ];
    for (const [r, message] of cases) {
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.split("\n")[0]).toBe(message);
      expect(r.stderr).toContain("Use: beanrun ");
    }
  });
});

describe("server address", () => {
  test("a server that cannot be reached is named in a one-line error, exit 1", async () => {
    const r = await cli(["stats"], { env: { BEANRUN_SERVER: "127.0.0.1:1" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("beanrun stats: cannot connect to 127.0.0.1:1: connection refused\n");
  });

  test("-s/--server wins over BEANRUN_SERVER", async () => {
    const env = { BEANRUN_SERVER: "127.0.0.1:1" };
    const [short, long, eq] = await Promise.all([
      cli(["stats", "-s", addr], { env }),
      cli(["stats", "--server", addr], { env }),
      cli(["stats", `--server=${addr}`], { env }),
    ]);
    for (const r of [short, long, eq]) {
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("current-connections:");
    }
  });
});

describe("stats", () => {
  test("server stats as aligned key: value text, and as typed JSON", async () => {
    const [text, json] = await Promise.all([cli(["stats"]), cli(["stats", "--json"])]);
    expect(text.code).toBe(0);
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^current-jobs-urgent: +\d+$/);
    const column = lines[0]!.search(/\d/);
    for (const line of lines) {
      // Every value starts in the same column.
      expect(line.match(/^[a-z-]+: +(?=\S)/)?.[0].length).toBe(column);
    }
    expect(text.stdout).toContain("\nversion:");
    const st = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(typeof st["current-connections"]).toBe("number");
    expect(typeof st.version).toBe("string");
    expect(st.draining).toBe(false);
  });

  test("one tube's stats; an unknown tube is exit 1", async () => {
    await seed("st-tube", ["a", "b"], { priority: 5 });
    const [text, json, missing] = await Promise.all([
      cli(["stats", "st-tube"]),
      cli(["stats", "st-tube", "--json"]),
      cli(["stats", "st-nosuch"]),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toStartWith("name:                  st-tube\n");
    expect(text.stdout).toContain("current-jobs-ready:    2\n");
    const st = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(st).toMatchObject({ name: "st-tube", "current-jobs-ready": 2, "current-jobs-urgent": 2, "total-jobs": 2 });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("beanrun stats: tube st-nosuch not found\n");
  });
});

describe("tubes", () => {
  test("a table of every tube, and the same as JSON", async () => {
    await seed("tb-jobs", ["a", "b", "c"], { priority: 1 });
    await seed("tb-jobs", ["later"], { delay: 600 });
    await seedBuried("tb-jobs", 1);
    await client.pauseTube("tb-jobs", 120);
    const [text, json] = await Promise.all([cli(["tubes"]), cli(["tubes", "--json"])]);
    expect(text.code).toBe(0);
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TUBE +READY {2}RESERVED {2}DELAYED {2}BURIED {2}URGENT {2}WAITING {2}PAUSED$/);
    const row = lines.find((l) => l.startsWith("tb-jobs "))!;
    expect(row.split(/ +/)).toEqual([
      "tb-jobs",
      "3",
      "0",
      "1",
      "1",
      "3",
      "0",
      expect.stringMatching(/^1(0\d|1\d|20)s$/) /* 120 s pause, seconds pass on a busy machine */,
    ]);
    expect(lines.some((l) => /^default +\d/.test(l))).toBe(true);

    const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(Array.isArray(rows)).toBe(true);
    expect(rows.find((r) => r.name === "tb-jobs")).toEqual({
      name: "tb-jobs",
      ready: 3,
      reserved: 0,
      delayed: 1,
      buried: 1,
      urgent: 3,
      waiting: 0,
      paused: true,
      "pause-time-left": expect.any(Number),
    });
    expect(rows.find((r) => r.name === "default")).toMatchObject({ paused: false, "pause-time-left": 0 });
  });
});

describe("put", () => {
  test("body from the argument, from stdin with - and when absent; prints the id", async () => {
    const [arg, dash, absent] = await Promise.all([
      cli(["put", "put-t", "from the argument"]),
      cli(["put", "put-t", "-"], { stdin: "from stdin\n" }),
      cli(["put", "put-t"], { stdin: '{"json":true}' }),
    ]);
    for (const r of [arg, dash, absent]) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^\d+\n$/);
    }
    const body = async (r: Result): Promise<string> => (await client.peek(Number(r.stdout)))!.text();
    expect(await body(arg)).toBe("from the argument");
    expect(await body(dash)).toBe("from stdin\n");
    expect(await body(absent)).toBe('{"json":true}');
    expect((await client.statsJob(Number(arg.stdout))).tube).toBe("put-t");
  });

  test("binary stdin bodies arrive byte for byte; --pri, --delay, --ttr are applied", async () => {
    const bytes = new Uint8Array([0, 255, 13, 10, 128, 1]);
    const r = await cli(["put", "put-bin", "--pri", "7", "--delay", "300", "--ttr", "42"], { stdin: bytes });
    expect(r.code).toBe(0);
    const id = Number(r.stdout);
    expect((await client.peek(id))!.body).toEqual(bytes);
    expect(await client.statsJob(id)).toMatchObject({ tube: "put-bin", state: "delayed", pri: 7, delay: 300, ttr: 42 });
  });
});

describe("peek", () => {
  test("by id: stats-job fields, a blank line, the body", async () => {
    const [id] = await seed("pk-text", ["hello body"]);
    const r = await cli(["peek", String(id)]);
    expect(r.code).toBe(0);
    const [head, body] = r.stdout.split("\n\n");
    expect(head).toStartWith(`id:        ${id}\ntube:      pk-text\nstate:     ready\npri:       1024\n`);
    expect(head).toContain("kicks:     0");
    expect(body).toBe("hello body\n");
  });

  test("TUBE ready|delayed|buried picks the job each state would give", async () => {
    const [ready] = await seed("pk-states", ["r"]);
    const [delayed] = await seed("pk-states", ["d"], { delay: 600 });
    const [buried] = await seedBuried("pk-states", 1);
    const [r, d, b] = await Promise.all([
      cli(["peek", "pk-states", "ready", "--json"]),
      cli(["peek", "pk-states", "delayed", "--json"]),
      cli(["peek", "pk-states", "buried", "--json"]),
    ]);
    for (const [res, id, state] of [
      [r, ready, "ready"],
      [d, delayed, "delayed"],
      [b, buried, "buried"],
    ] as const) {
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout)).toMatchObject({ id, stats: { id, tube: "pk-states", state } });
    }
  });

  test("--json shape, with UTF-8 bodies as text and others as base64; --body prints the raw bytes", async () => {
    const [textId] = await seed("pk-json", ['{"héllo":1}']);
    const c = await Client.connect({ port: server.port });
    await c.use("pk-json");
    const binId = await c.put(new Uint8Array([0xff, 0x00, 0x41]));
    await c.quit();
    const [text, bin, raw] = await Promise.all([
      cli(["peek", String(textId), "--json"]),
      cli(["peek", String(binId), "--json"]),
      cli(["peek", String(binId), "--body"]),
    ]);
    const doc = JSON.parse(text.stdout) as { id: number; stats: Record<string, unknown>; body: string; encoding: string };
    expect(Object.keys(doc)).toEqual(["id", "stats", "body", "encoding"]);
    expect(doc).toMatchObject({ id: textId, body: '{"héllo":1}', encoding: "utf8" });
    expect(doc.stats).toMatchObject({ id: textId, tube: "pk-json", state: "ready", pri: 1024, ttr: 60, reserves: 0 });
    expect(JSON.parse(bin.stdout)).toMatchObject({ id: binId, body: "/wBB", encoding: "base64" });
    expect(raw.code).toBe(0);
    expect(raw.bytes).toEqual(new Uint8Array([0xff, 0x00, 0x41]));
  });

  test("a missing job, an unknown tube, an empty state: one line, exit 1", async () => {
    await seed("pk-empty", ["x"]);
    const [job, tube, empty] = await Promise.all([
      cli(["peek", "999999"]),
      cli(["peek", "pk-nosuch", "ready"]),
      cli(["peek", "pk-empty", "buried"]),
    ]);
    expect([job.code, tube.code, empty.code]).toEqual([1, 1, 1]);
    expect(job.stderr).toBe("beanrun peek: job 999999 not found\n");
    expect(tube.stderr).toBe("beanrun peek: tube pk-nosuch not found\n");
    expect(empty.stderr).toBe("beanrun peek: tube pk-empty has no buried job\n");
  });
});

describe("kick, kick-job, delete, delete-buried, pause", () => {
  test("kick TUBE [N] kicks buried jobs, one by default", async () => {
    await seedBuried("kk", 4);
    const one = await cli(["kick", "kk"]);
    expect(one).toMatchObject({ code: 0, stdout: "kicked 1 job in tube kk\n" });
    const rest = await cli(["kick", "kk", "10"]);
    expect(rest).toMatchObject({ code: 0, stdout: "kicked 3 jobs in tube kk\n" });
    expect((await client.statsTube("kk"))["current-jobs-ready"]).toBe(4);
    const missing = await cli(["kick", "kk-nosuch"]);
    expect(missing).toMatchObject({ code: 1, stderr: "beanrun kick: tube kk-nosuch not found\n" });
  });

  test("kick-job ID; a job in another state is explained, a missing one is not found", async () => {
    const [buried] = await seedBuried("kj", 1);
    const [ready] = await seed("kj", ["r"]);
    const [ok, wrong, missing] = await Promise.all([
      cli(["kick-job", String(buried)]),
      cli(["kick-job", String(ready)]),
      cli(["kick-job", "999998"]),
    ]);
    expect(ok).toMatchObject({ code: 0, stdout: `kicked job ${buried}\n` });
    expect((await client.statsJob(buried)).state).toBe("ready");
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe(`beanrun kick-job: job ${ready} is ready in tube kj; only buried or delayed jobs can be kicked\n`);
    expect(missing).toMatchObject({ code: 1, stderr: "beanrun kick-job: job 999998 not found\n" });
  });

  test("delete ID... deletes what it can, reports the rest, exit 1 if any failed", async () => {
    const ids = await seed("del", ["a", "b"]);
    const all = await cli(["delete", ...ids.map(String)]);
    expect(all).toMatchObject({ code: 0, stdout: ids.map((id) => `deleted job ${id}\n`).join(""), stderr: "" });
    expect(await client.peek(ids[0]!)).toBeNull();

    const [kept] = await seed("del", ["c"]);
    const partial = await cli(["delete", "999997", String(kept)]);
    expect(partial.code).toBe(1);
    expect(partial.stdout).toBe(`deleted job ${kept}\n`);
    expect(partial.stderr).toBe("beanrun delete: job 999997 not found\n");
  });

  test("delete-buried TUBE drains buried jobs: one, N, or --all; ready jobs stay", async () => {
    await seedBuried("dlq", 5);
    await seed("dlq", ["alive"]);
    const one = await cli(["delete-buried", "dlq"]);
    expect(one).toMatchObject({ code: 0, stdout: "deleted 1 buried job in tube dlq\n" });
    const two = await cli(["delete-buried", "dlq", "2"]);
    expect(two).toMatchObject({ code: 0, stdout: "deleted 2 buried jobs in tube dlq\n" });
    const all = await cli(["delete-buried", "dlq", "--all"]);
    expect(all).toMatchObject({ code: 0, stdout: "deleted 2 buried jobs in tube dlq\n" });
    const st = await client.statsTube("dlq");
    expect([st["current-jobs-buried"], st["current-jobs-ready"]]).toEqual([0, 1]);
    const both = await cli(["delete-buried", "dlq", "3", "--all"]);
    expect(both.code).toBe(2);
  });

  test("pause TUBE SECONDS pauses and 0 resumes; an unknown tube is exit 1", async () => {
    await seed("ps", ["x"]);
    const on = await cli(["pause", "ps", "60"]);
    expect(on).toMatchObject({ code: 0, stdout: "tube ps paused for 60s\n" });
    expect((await client.statsTube("ps")).pause).toBe(60);
    const off = await cli(["pause", "ps", "0"]);
    expect(off).toMatchObject({ code: 0, stdout: "tube ps unpaused\n" });
    expect((await client.statsTube("ps"))["pause-time-left"]).toBe(0);
    const missing = await cli(["pause", "ps-nosuch", "5"]);
    expect(missing).toMatchObject({ code: 1, stderr: "beanrun pause: tube ps-nosuch not found\n" });
  });
});

describe("top", () => {
  test("--count 2 prints two plain blocks when stdout is not a TTY, with rates in the second", async () => {
    await seed("top-t", ["first"]);
    const c = await Client.connect({ port: server.port });
    await c.use("top-t");
    const running = cli(["top", "--count", "2", "--interval", "0.4"]);
    let done = false;
    void running.then(() => (done = true));
    // Keep putting while top samples, so the second block shows a put rate.
    while (!done) {
      await c.put("tick");
      await Bun.sleep(10);
    }
    await c.quit();
    const r = await running;
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("\x1b[");
    const blocks = r.stdout.split(/\n\n(?=beanrun top )/);
    expect(blocks).toHaveLength(2);
    for (const block of blocks) {
      expect(block).toStartWith(`beanrun top  ${addr}  `);
      expect(block).toMatch(/\njobs +ready \d+ {2}reserved \d+/);
      expect(block).toMatch(/\nconnections +\d+ \(producers \d+, workers \d+, waiting \d+\)/);
      expect(block).toMatch(/\nTUBE +READY +RESERVED +DELAYED +BURIED +URGENT +WAITING +PUT\/S +DEL\/S +PAUSED\n/);
    }
    const row = (block: string): string[] =>
      block
        .split("\n")
        .find((l) => l.startsWith("top-t "))!
        .split(/ +/);
    expect(row(blocks[0]!).slice(7, 9)).toEqual(["-", "-"]);
    expect(blocks[0]).toContain("put/s -");
    const [putRate, delRate] = row(blocks[1]!).slice(7, 9).map(Number);
    expect(putRate).toBeGreaterThan(0);
    expect(delRate).toBe(0);
    expect(blocks[1]).toMatch(/put\/s \d+\.\d/);
  });

  test("runs until Ctrl-C (SIGINT), then exits 0", async () => {
    const proc = Bun.spawn([BUN, join(ROOT, "runtime/cli.ts"), "top", "--interval", "5"], {
      cwd: ROOT,
      env: { ...process.env, BEANRUN_SERVER: addr },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toStartWith("beanrun top ");
    const t0 = performance.now();
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(0);
    // It stopped waiting at once rather than finishing the 5 s interval.
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  test("--count must be a positive integer", async () => {
    const r = await cli(["top", "--count", "0"]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe("beanrun top: --count must be at least 1");
  });
});
