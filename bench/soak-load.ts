/**
 * The memory soak's workloads (bench/soak.ts): one round of each against one
 * server. Every part does a fixed amount of work per round, so beanrun and
 * beanstalkd driven in lockstep get exactly the same inputs; and every part
 * leaves the server as it found it (no jobs, no extra tubes), so whatever
 * memory a server keeps after a round is retention, not queued work.
 *
 * - fuzz: short-lived connections sending mutated commands (random tube
 *   names, numbers, over-long lines, stray CR/LF, bodies of the wrong
 *   length, random bytes), then a half-close. Jobs they leave behind are
 *   deleted by `sweep` at the end of the round.
 * - churn: connect/close cycles, some after `use`/`watch`, a waiting
 *   reserve or a reservation held, closed with FIN or with RST.
 * - big: 1 MiB bodies put, half reserved and deleted, half deleted by id.
 * - traffic: pipelined put / reserve-with-timeout 0 / delete of 10 B-8 KB bodies.
 */
import * as net from "node:net";

export interface Counts {
  fuzzInputs: number;
  churn: number;
  bigBodies: number;
  cycles: number;
}

export interface RoundSize {
  fuzzConns: number;
  churnConns: number;
  bigBodies: number;
  trafficCycles: number;
}

export const MiB = 1 << 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A pseudo-random generator with a seed, so both servers get the same inputs. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** A connection that answers commands in order: `line` and, for replies with a body, its length. */
export class Client {
  private chunks: Buffer[] = [];
  private have = 0;
  private waiters: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private failed: Error | null = null;

  private constructor(readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.have += d.length;
      this.parse();
    });
    const fail = (e: Error) => {
      this.failed = e;
      for (const w of this.waiters.splice(0)) w.reject(e);
    };
    sock.on("error", fail);
    sock.on("close", () => fail(new Error("connection closed")));
  }

  static open(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => resolve(new Client(s)));
      s.once("error", reject);
    });
  }

  /** Sends `data`; resolves with the next `n` replies. */
  send(data: string | Uint8Array, n = 1): Promise<Reply[]> {
    const replies = Array.from({ length: n }, () => new Promise<Reply>((resolve, reject) => this.waiters.push({ resolve, reject })));
    if (this.failed) return Promise.reject(this.failed);
    this.sock.write(data);
    return Promise.all(replies);
  }

  close(): void {
    this.sock.destroy();
  }

  private parse(): void {
    while (this.waiters.length && this.have > 0) {
      if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
      const buf = this.chunks[0]!;
      const nl = buf.indexOf("\r\n");
      if (nl < 0) return;
      const line = buf.toString("latin1", 0, nl);
      let end = nl + 2;
      let bodyLen = -1;
      if (line.startsWith("RESERVED ") || line.startsWith("FOUND ") || line.startsWith("OK ")) {
        bodyLen = Number(line.slice(line.lastIndexOf(" ") + 1));
        if (buf.length < end + bodyLen + 2) return; // wait for the rest (concatenated once per data event)
        end += bodyLen + 2;
      }
      const rest = buf.subarray(end);
      this.chunks = rest.length ? [rest] : [];
      this.have = rest.length;
      this.waiters
        .shift()!
        .resolve({ line, bodyLen, body: bodyLen > 0 && bodyLen < 4096 ? buf.toString("latin1", nl + 2, nl + 2 + bodyLen) : "" });
    }
  }
}

export interface Reply {
  line: string;
  bodyLen: number;
  /** The body when short (stats YAML, small jobs), else "". */
  body: string;
}

// ---- fuzz ---------------------------------------------------------------------

const COMMANDS = [
  "put",
  "use",
  "watch",
  "ignore",
  "reserve-with-timeout",
  "reserve",
  "reserve-job",
  "peek",
  "peek-ready",
  "peek-delayed",
  "peek-buried",
  "delete",
  "release",
  "bury",
  "touch",
  "kick",
  "kick-job",
  "stats",
  "stats-job",
  "stats-tube",
  "list-tubes",
  "list-tube-used",
  "list-tubes-watched",
  "pause-tube",
];
const NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-+/;.$_()";

function fuzzName(r: () => number): string {
  // Mostly a few dozen names, so tubes are created, shared and dropped again.
  if (r() < 0.8) return `f${Math.floor(r() * 40)}`;
  const n = 1 + Math.floor(r() ** 3 * 230);
  let s = "";
  for (let i = 0; i < n; i++) s += NAME_CHARS[Math.floor(r() * NAME_CHARS.length)];
  return s;
}

function fuzzNumber(r: () => number): string {
  const k = r();
  if (k < 0.5) return String(Math.floor(r() * 10));
  if (k < 0.7) return String(Math.floor(r() * 2 ** 32));
  if (k < 0.8) return "-1";
  if (k < 0.9) return "99999999999999999999999";
  return String(Math.floor(r() * 1000));
}

/** One fuzzed input: a command line, with a body for puts. */
function fuzzInput(r: () => number): string {
  const cmd = COMMANDS[Math.floor(r() * COMMANDS.length)]!;
  let line: string;
  let body = "";
  if (cmd === "put") {
    const size = r() < 0.1 ? Math.floor(r() * 70000) : Math.floor(r() * 300);
    const pri = fuzzNumber(r);
    const delay = r() < 0.8 ? "0" : fuzzNumber(r);
    line = `put ${pri} ${delay} ${fuzzNumber(r)} ${size}`;
    const wrong = r() < 0.1 ? Math.floor(r() * 5) - 2 : 0;
    body = `${"x".repeat(Math.max(0, size + wrong))}\r\n`;
  } else if (cmd === "use" || cmd === "watch" || cmd === "ignore" || cmd === "stats-tube" || cmd === "pause-tube") {
    line = `${cmd} ${fuzzName(r)}${cmd === "pause-tube" ? ` ${r() < 0.5 ? "0" : fuzzNumber(r)}` : ""}`;
  } else if (cmd === "reserve-with-timeout") {
    line = `${cmd} ${r() < 0.9 ? "0" : fuzzNumber(r)}`;
  } else if (cmd === "release") {
    line = `${cmd} ${fuzzNumber(r)} ${fuzzNumber(r)} ${fuzzNumber(r)}`;
  } else if (cmd === "bury") {
    line = `${cmd} ${fuzzNumber(r)} ${fuzzNumber(r)}`;
  } else {
    line = r() < 0.5 ? `${cmd} ${fuzzNumber(r)}` : cmd;
  }
  // Mutations: a character dropped, doubled or replaced; a stray CR or LF; a long line; junk.
  const m = r();
  if (m < 0.05) line = line.slice(0, Math.floor(r() * line.length));
  else if (m < 0.1) line += " ".repeat(Math.floor(r() * 300));
  else if (m < 0.13) line = line.replace(" ", "\r");
  else if (m < 0.16) line = line.replace(" ", "\n");
  else if (m < 0.2) {
    let junk = "";
    for (let i = Math.floor(r() * 40); i > 0; i--) junk += String.fromCharCode(Math.floor(r() * 256));
    line = junk;
  } else if (m < 0.25) line = line.toUpperCase();
  return `${line}\r\n${body}`;
}

/** One fuzz connection: ~10 inputs, a half-close, then wait (bounded) for the server to close. */
async function fuzzConn(port: number, r: () => number): Promise<number> {
  const n = 5 + Math.floor(r() * 10);
  let text = "";
  for (let i = 0; i < n; i++) text += fuzzInput(r);
  const sock = net.connect(port, "127.0.0.1");
  sock.on("data", () => {});
  await new Promise<void>((resolve) => {
    const done = () => (clearTimeout(t), sock.destroy(), resolve());
    const t = setTimeout(done, 3000);
    sock.on("error", done);
    sock.on("close", done);
    sock.on("connect", () => sock.end(Buffer.from(text, "latin1")));
  });
  return n;
}

// ---- the round ----------------------------------------------------------------

async function pool(n: number, width: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(n, width) }, lane));
}

async function fuzz(port: number, size: RoundSize, seed: number, counts: Counts): Promise<void> {
  const r = rng(seed);
  const seeds = Array.from({ length: size.fuzzConns }, () => Math.floor(r() * 2 ** 31));
  await pool(size.fuzzConns, 16, async (i) => {
    const n = await fuzzConn(port, rng(seeds[i]!));
    counts.fuzzInputs += n;
  });
}

async function churn(port: number, size: RoundSize, seed: number, counts: Counts): Promise<void> {
  const r = rng(seed);
  await pool(size.churnConns, 16, async () => {
    const kind = Math.floor(r() * 6);
    const tube = `c${Math.floor(r() * 50)}`;
    const c = await Client.open(port);
    try {
      if (kind === 1) await c.send(`use ${tube}\r\n`);
      else if (kind === 2) await c.send(`watch ${tube}\r\n`);
      else if (kind === 3) {
        // Closed while waiting in a reserve.
        await c.send(`watch ${tube}\r\n`);
        c.sock.write("reserve-with-timeout 5\r\n");
        await sleep(1);
      } else if (kind === 4) {
        // Closed while holding a reservation: the job goes back, `sweep` deletes it.
        await c.send(`use ${tube}\r\nwatch ${tube}\r\nput 0 0 60 5\r\nhello\r\nreserve-with-timeout 0\r\n`, 3);
      }
    } finally {
      if (r() < 0.5) c.sock.end();
      else c.close();
    }
    counts.churn++;
  });
}

async function big(port: number, size: RoundSize, counts: Counts): Promise<void> {
  if (size.bigBodies === 0) return;
  const c = await Client.open(port);
  try {
    const body = Buffer.alloc(MiB + 2, 0x62);
    body.write("\r\n", MiB);
    await c.send("use soak-big\r\nwatch soak-big\r\n", 2);
    const ids: number[] = [];
    for (let i = 0; i < size.bigBodies; i++) {
      const [rep] = await c.send(Buffer.concat([Buffer.from(`put 0 0 60 ${MiB}\r\n`), body]));
      ids.push(Number(rep!.line.split(" ")[1]));
    }
    for (let i = 0; i < ids.length; i += 2) {
      const [res] = await c.send("reserve-with-timeout 0\r\n");
      await c.send(`delete ${res!.line.split(" ")[1]}\r\n`);
    }
    // Whatever was not reserved above goes by id (NOT_FOUND for those already deleted).
    await c.send(ids.map((id) => `delete ${id}\r\n`).join(""), ids.length);
    counts.bigBodies += ids.length;
  } finally {
    c.close();
  }
}

async function traffic(port: number, size: RoundSize, seed: number, counts: Counts): Promise<void> {
  const r = rng(seed);
  const conns = 8;
  const batch = 25;
  await Promise.all(
    Array.from({ length: conns }, async () => {
      const c = await Client.open(port);
      try {
        await c.send("use soak-traffic\r\nwatch soak-traffic\r\n", 2);
        for (let done = 0; done < size.trafficCycles / conns; done += batch) {
          let puts = "";
          for (let i = 0; i < batch; i++) {
            const n = r() < 0.8 ? 10 + Math.floor(r() * 200) : Math.floor(r() * 8000);
            puts += `put ${Math.floor(r() * 100)} 0 60 ${n}\r\n${"t".repeat(n)}\r\n`;
          }
          await c.send(puts, batch);
          const got = await c.send("reserve-with-timeout 0\r\n".repeat(batch), batch);
          const dels = got.filter((g) => g.line.startsWith("RESERVED ")).map((g) => `delete ${g.line.split(" ")[1]}\r\n`);
          if (dels.length) await c.send(dels.join(""), dels.length);
          counts.cycles += dels.length;
        }
      } finally {
        c.close();
      }
    }),
  );
}

/** Deletes every job left in any tube (fuzzed puts, released reservations). */
export async function sweep(port: number): Promise<number> {
  const c = await Client.open(port);
  let deleted = 0;
  try {
    const [list] = await c.send("list-tubes\r\n");
    const tubes = list!.body
      .split("\n")
      .filter((l) => l.startsWith("- "))
      .map((l) => l.slice(2).replace(/^"(.*)"$/, "$1"));
    for (const t of tubes) {
      await c.send(`use ${t}\r\n`);
      for (const peek of ["peek-ready", "peek-delayed", "peek-buried"]) {
        for (;;) {
          const [p] = await c.send(`${peek}\r\n`);
          if (!p!.line.startsWith("FOUND ")) break;
          await c.send(`delete ${p!.line.split(" ")[1]}\r\n`);
          deleted++;
        }
      }
    }
  } finally {
    c.close();
  }
  return deleted;
}

/** One round of the parts named in `parts` against the server on `port`, all at once. */
export async function round(port: number, parts: Set<string>, size: RoundSize, seed: number, counts: Counts): Promise<void> {
  const work: Promise<void>[] = [];
  if (parts.has("fuzz")) work.push(fuzz(port, size, seed, counts));
  if (parts.has("churn")) work.push(churn(port, size, seed + 1, counts));
  if (parts.has("big")) work.push(big(port, size, counts));
  if (parts.has("traffic")) work.push(traffic(port, size, seed + 2, counts));
  await Promise.all(work);
  await sweep(port);
}

/** Puts `total` 1 MiB bodies, holding up to `hold` at once, and deletes them all. */
export async function bigBodies(port: number, total: number, hold: number): Promise<void> {
  const c = await Client.open(port);
  try {
    const body = Buffer.alloc(MiB + 2, 0x42);
    body.write("\r\n", MiB);
    const put = Buffer.concat([Buffer.from(`put 0 0 60 ${MiB}\r\n`), body]);
    await c.send("use soak-bulk\r\n");
    for (let done = 0; done < total; done += hold) {
      const ids: number[] = [];
      for (let i = 0; i < Math.min(hold, total - done); i++) {
        const [rep] = await c.send(put);
        if (!rep!.line.startsWith("INSERTED ")) throw new Error(`big put: ${rep!.line}`);
        ids.push(Number(rep!.line.split(" ")[1]));
      }
      await c.send(ids.map((id) => `delete ${id}\r\n`).join(""), ids.length);
    }
  } finally {
    c.close();
  }
}
