/**
 * Large bodies under concurrency: clients put, peek, reserve, release and
 * delete 4–64 KB self-checking bodies while slow readers pipeline peeks and
 * read a little at a time (so replies go out in partial writes). Every body
 * that comes back must be intact: this guards the arena's reuse of cells and
 * the replies written straight from a job's buffer.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { Client } from "../runtime/client/index.ts";
import { startOurs } from "./support/servers.ts";

type Server = Awaited<ReturnType<typeof startOurs>>;
let server: Server;
beforeAll(async () => {
  server = await startOurs([]);
});
afterAll(async () => {
  await server?.stop();
});

/** Bytes 0-3 carry a tag and the length; the rest is a pattern of both. */
function makeBody(tag: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 4; i < len; i++) b[i] = (tag * 31 + i * 7) & 0xff;
  b[0] = tag & 0xff;
  b[1] = (tag >> 8) & 0xff;
  b[2] = len & 0xff;
  b[3] = (len >> 8) & 0xff;
  return b;
}

function intact(b: Uint8Array): boolean {
  const tag = b[0]! | (b[1]! << 8);
  if ((b[2]! | (b[3]! << 8)) !== (b.length & 0xffff)) return false;
  for (let i = 4; i < b.length; i++) if (b[i] !== ((tag * 31 + i * 7) & 0xff)) return false;
  return true;
}

async function mutator(port: number, w: number, count: number, bad: string[]): Promise<number> {
  const c = await Client.connect({ host: "127.0.0.1", port });
  let tag = w * 1000;
  let ops = 0;
  try {
    while (ops < count) {
      const r = Math.random();
      if (r < 0.4) await c.put(makeBody(tag++ % 65536, 4000 + Math.floor(Math.random() * 61000)));
      else if (r < 0.6) {
        const j = await c.peekReady();
        if (j && !intact(j.body)) bad.push(`peek-ready ${j.id}`);
      } else {
        const j = await c.reserveWithTimeout(0);
        if (j) {
          if (!intact(j.body)) bad.push(`reserve ${j.id}`);
          if (Math.random() < 0.5) await c.delete(j.id);
          else await c.release(j.id, 0, 0);
        }
      }
      ops++;
    }
  } finally {
    c.close();
  }
  return ops;
}

/** Pipelines 30 peek-ready, reads them pausing 5 ms per chunk, checks every body; repeats. */
async function slowReader(port: number, more: (checked: number) => boolean, bad: string[]): Promise<number> {
  let checked = 0;
  while (more(checked)) {
    const sock = connect(port, "127.0.0.1");
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.write("peek-ready\r\n".repeat(30));
    let buf = Buffer.alloc(0);
    let replies = 0;
    await new Promise<void>((resolve) => {
      sock.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        sock.pause();
        setTimeout(() => sock.resume(), 5);
        for (;;) {
          const nl = buf.indexOf("\r\n");
          if (nl < 0) return;
          const line = buf.subarray(0, nl).toString();
          if (line === "NOT_FOUND") buf = buf.subarray(nl + 2);
          else {
            const m = /^FOUND (\d+) (\d+)$/.exec(line);
            if (!m) {
              bad.push(`reply line ${JSON.stringify(line.slice(0, 40))}`);
              sock.destroy();
              return resolve();
            }
            const len = Number(m[2]);
            if (buf.length < nl + len + 4) return;
            if (!intact(new Uint8Array(buf.subarray(nl + 2, nl + 2 + len)))) bad.push(`slow peek ${m[1]}`);
            if (buf[nl + 2 + len] !== 13 || buf[nl + 3 + len] !== 10) bad.push(`no CRLF after ${m[1]}`);
            buf = buf.subarray(nl + len + 4);
            checked++;
          }
          if (++replies === 30) {
            sock.destroy();
            return resolve();
          }
        }
      });
    });
  }
  return checked;
}

test("large bodies stay intact under concurrent puts, peeks, reserves, deletes and slow readers", async () => {
  // Counted work, not a time window: on a loaded machine the check does as
  // much as on a quiet one, only slower.
  const bad: string[] = [];
  let mutating = true;
  const readers = [0, 1].map(() => slowReader(server.port, (checked) => mutating || checked < 50, bad));
  const mutated = await Promise.all(Array.from({ length: 8 }, (_, w) => mutator(server.port, w, 150, bad)));
  // Leave bodies in the queue so the readers can finish their count.
  const c = await Client.connect({ host: "127.0.0.1", port: server.port });
  for (let i = 0; i < 5; i++) await c.put(makeBody(60000 + i, 20000));
  c.close();
  mutating = false;
  const checked = await Promise.all(readers);
  expect(bad).toEqual([]);
  expect(mutated.reduce((a, b) => a + b, 0)).toBe(1200);
  expect(checked[0]! + checked[1]!).toBeGreaterThanOrEqual(100);
}, 120_000);
