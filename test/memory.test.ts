/**
 * Memory given back early (issue 12 item 5) must not cost a byte: a read of
 * 64 KiB or more is freed as soon as the connection has used it, and a
 * deleted big body's buffer at once. These drive a real server with reads
 * that carry a body and the commands after it in one piece, with reads held
 * behind a waiting reserve, and with big bodies deleted while a reply still
 * sends them, and check every byte that comes back; and the buffers kept
 * for reuse, given back once the server goes quiet, are allocated again
 * correctly (bodies and log records intact). The RSS figures
 * themselves are bench/soak.ts's (timing- and allocator-dependent, not a test).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IDLE_RELEASE_MS, releaseWhenIdle } from "../runtime/server/idle.ts";
import { startOurs } from "./support/servers.ts";

type Server = Awaited<ReturnType<typeof startOurs>>;
let server: Server;
beforeAll(async () => {
  server = await startOurs(["-z", String(4 << 20)]);
});
afterAll(async () => {
  await server?.stop();
});

/** A raw connection collecting everything the server sends. */
function open(port: number): Promise<{ sock: Socket; read(n: number): Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1", () => resolve({ sock, read }));
    sock.once("error", reject);
    let got = Buffer.alloc(0);
    let want: { n: number; done: (b: Buffer) => void } | null = null;
    const check = () => {
      if (want && got.length >= want.n) {
        const b = got.subarray(0, want.n);
        got = got.subarray(want.n);
        const w = want;
        want = null;
        w.done(b);
      }
    };
    sock.on("data", (d: Buffer) => {
      got = Buffer.concat([got, d]);
      check();
    });
    function read(n: number): Promise<Buffer> {
      return new Promise((done) => {
        want = { n, done };
        check();
      });
    }
  });
}

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (seed + i * 13) & 0xff;
  return b;
}

async function line(c: { read(n: number): Promise<Buffer> }): Promise<string> {
  let l = "";
  while (!l.endsWith("\r\n")) l += (await c.read(1)).toString("latin1");
  return l;
}

const put = (body: Buffer) => Buffer.concat([Buffer.from(`put 0 0 60 ${body.length}\r\n`), body, Buffer.from("\r\n")]);

test("a large read carrying bodies and the commands after them is served whole", async () => {
  const c = await open(server.port);
  try {
    const bodies = [pattern(300_000, 1), pattern(70_000, 2), pattern(10, 3)];
    c.sock.write(
      Buffer.concat([Buffer.from("use mem-a\r\nwatch mem-a\r\n"), ...bodies.map(put), Buffer.from("reserve-with-timeout 0\r\n".repeat(3))]),
    );
    const head = (await c.read("USING mem-a\r\nWATCHING 2\r\n".length)).toString();
    expect(head).toBe("USING mem-a\r\nWATCHING 2\r\n");
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const l = await line(c);
      expect(l).toMatch(/^INSERTED \d+\r\n$/);
      ids.push(Number(l.slice(9, -2)));
    }
    for (let i = 0; i < 3; i++) {
      const header = `RESERVED ${ids[i]} ${bodies[i]!.length}\r\n`;
      expect((await c.read(header.length)).toString()).toBe(header);
      expect(Buffer.compare(await c.read(bodies[i]!.length + 2), Buffer.concat([bodies[i]!, Buffer.from("\r\n")]))).toBe(0);
    }
    c.sock.write(ids.map((id) => `delete ${id}\r\n`).join(""));
    expect((await c.read("DELETED\r\n".length * 3)).toString()).toBe("DELETED\r\n".repeat(3));
  } finally {
    c.sock.destroy();
  }
}, 30_000);

test("a large read held behind a waiting reserve keeps its bytes", async () => {
  const waiter = await open(server.port);
  const producer = await open(server.port);
  try {
    const body = pattern(500_000, 7);
    // The reserve waits; the big put behind it in the same read is held until it is answered.
    waiter.sock.write(Buffer.concat([Buffer.from("watch mem-b\r\nuse mem-b\r\nreserve\r\n"), put(body), Buffer.from("peek-ready\r\n")]));
    expect((await waiter.read("WATCHING 2\r\nUSING mem-b\r\n".length)).toString()).toBe("WATCHING 2\r\nUSING mem-b\r\n");
    producer.sock.write("use mem-b\r\nput 0 0 60 2\r\nhi\r\n");
    expect(await line(producer)).toBe("USING mem-b\r\n");
    const first = Number(/^INSERTED (\d+)\r\n$/.exec(await line(producer))![1]);
    const reserved = `RESERVED ${first} 2\r\nhi\r\n`;
    expect((await waiter.read(reserved.length)).toString()).toBe(reserved);
    const id = Number(/^INSERTED (\d+)\r\n$/.exec(await line(waiter))![1]);
    const found = `FOUND ${id} ${body.length}\r\n`;
    expect((await waiter.read(found.length)).toString()).toBe(found);
    expect(Buffer.compare(await waiter.read(body.length + 2), Buffer.concat([body, Buffer.from("\r\n")]))).toBe(0);
    waiter.sock.write(`delete ${first}\r\ndelete ${id}\r\n`);
    expect((await waiter.read("DELETED\r\n".length * 2)).toString()).toBe("DELETED\r\n".repeat(2));
  } finally {
    waiter.sock.destroy();
    producer.sock.destroy();
  }
}, 30_000);

test("big bodies deleted while a reply still sends them arrive whole, and their memory is reused safely", async () => {
  const c = await open(server.port);
  try {
    const bodies = Array.from({ length: 6 }, (_, i) => pattern((1 << 20) + 1000 * i, 20 + i));
    c.sock.write(Buffer.concat([Buffer.from("use mem-c\r\n"), ...bodies.map(put)]));
    expect(await line(c)).toBe("USING mem-c\r\n");
    const ids: number[] = [];
    for (let i = 0; i < bodies.length; i++) ids.push(Number(/^INSERTED (\d+)\r\n$/.exec(await line(c))![1]));
    // Peek every body, delete them all and put fresh bodies of the same sizes (which take
    // their memory), in one go: the replies to the peeks are still being sent (this client
    // stops reading for a while) when their jobs are deleted.
    c.sock.pause();
    const fresh = bodies.map((b, i) => pattern(b.length, 90 + i));
    c.sock.write(
      Buffer.concat([
        Buffer.from(ids.map((id) => `peek ${id}\r\n`).join("")),
        Buffer.from(ids.map((id) => `delete ${id}\r\n`).join("")),
        ...fresh.map(put),
      ]),
    );
    await Bun.sleep(200);
    c.sock.resume();
    for (let i = 0; i < ids.length; i++) {
      expect(await line(c)).toBe(`FOUND ${ids[i]} ${bodies[i]!.length}\r\n`);
      expect(Buffer.compare(await c.read(bodies[i]!.length + 2), Buffer.concat([bodies[i]!, Buffer.from("\r\n")]))).toBe(0);
    }
    for (let i = 0; i < ids.length; i++) expect(await line(c)).toBe("DELETED\r\n");
    const freshIds: number[] = [];
    for (let i = 0; i < fresh.length; i++) freshIds.push(Number(/^INSERTED (\d+)\r\n$/.exec(await line(c))![1]));
    c.sock.write(freshIds.map((id) => `peek ${id}\r\n`).join(""));
    for (let i = 0; i < freshIds.length; i++) {
      expect(await line(c)).toBe(`FOUND ${freshIds[i]} ${fresh[i]!.length}\r\n`);
      expect(Buffer.compare(await c.read(fresh[i]!.length + 2), Buffer.concat([fresh[i]!, Buffer.from("\r\n")]))).toBe(0);
    }
    c.sock.write(freshIds.map((id) => `delete ${id}\r\n`).join(""));
    for (let i = 0; i < freshIds.length; i++) expect(await line(c)).toBe("DELETED\r\n");
  } finally {
    c.sock.destroy();
  }
}, 60_000);

test("kept memory is released once after activity stops, and not again until more activity", async () => {
  let released = 0;
  let onRelease = () => {};
  const idle = releaseWhenIdle(() => {
    released++;
    onRelease();
  }, 10);
  try {
    idle.busy();
    await new Promise<void>((r) => {
      onRelease = r;
    });
    expect(released).toBe(1);
    await Bun.sleep(100); // ten quiet periods: nothing more to release
    expect(released).toBe(1);
    idle.busy();
    await new Promise<void>((r) => {
      onRelease = r;
    });
    expect(released).toBe(2);
  } finally {
    idle.stop();
  }
});

test("with -b, bodies and log records written after a quiet spell (buffers released) are served and recovered whole", async () => {
  const dir = mkdtempSync(join(tmpdir(), "beanrun-idle-"));
  const args = ["-b", dir, "-z", String(4 << 20)];
  let s = await startOurs(args);
  try {
    const c = await open(s.port);
    const before = [pattern(2 << 20, 31), pattern(70_000, 32), pattern(100, 33)];
    c.sock.write(Buffer.concat([Buffer.from("use mem-d\r\n"), ...before.map(put)]));
    expect(await line(c)).toBe("USING mem-d\r\n");
    const ids: number[] = [];
    for (let i = 0; i < before.length; i++) ids.push(Number(/^INSERTED (\d+)\r\n$/.exec(await line(c))![1]));
    c.sock.write(ids.map((id) => `peek ${id}\r\n`).join(""));
    for (let i = 0; i < ids.length; i++) {
      expect(await line(c)).toBe(`FOUND ${ids[i]} ${before[i]!.length}\r\n`);
      await c.read(before[i]!.length + 2);
    }
    c.sock.write(`delete ${ids[0]}\r\n`);
    expect(await line(c)).toBe("DELETED\r\n");
    // Quiet for longer than two release periods: the arena's, the replies' and the log's kept buffers go.
    await Bun.sleep(2 * IDLE_RELEASE_MS + 1000);
    const after = [pattern(3 << 20, 41), pattern(100, 42), pattern(70_000, 43)];
    c.sock.write(Buffer.concat(after.map(put)));
    for (let i = 0; i < after.length; i++) ids.push(Number(/^INSERTED (\d+)\r\n$/.exec(await line(c))![1]));
    c.sock.destroy();
    await s.stop();
    s = await startOurs(args);
    const r = await open(s.port);
    const kept = [...before.slice(1), ...after];
    r.sock.write(
      ids
        .slice(1)
        .map((id) => `peek ${id}\r\n`)
        .join(""),
    );
    for (let i = 0; i < kept.length; i++) {
      expect(await line(r)).toBe(`FOUND ${ids[i + 1]} ${kept[i]!.length}\r\n`);
      expect(Buffer.compare(await r.read(kept[i]!.length + 2), Buffer.concat([kept[i]!, Buffer.from("\r\n")]))).toBe(0);
    }
    r.sock.write(`peek ${ids[0]}\r\n`);
    expect(await line(r)).toBe("NOT_FOUND\r\n");
    r.sock.destroy();
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
