/**
 * kill -9 at random moments while several connections put and delete with
 * -f 0; after every restart each acknowledged job must be there, intact, and
 * each acknowledged delete must stay deleted.
 */
import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { launchWithLog, type OurServer } from "../support/servers.ts";
import { removeDir, tempDir } from "../support/temp.ts";
import { Wire } from "../support/wire.ts";

const dir = tempDir("crash");
afterAll(() => removeDir(dir));

interface Known {
  body: Buffer;
  pri: number;
}

const ROUNDS = 8;
const CONNS = 4;

/** What the test knows across rounds. */
interface Truth {
  /** Jobs that must exist (acknowledged put, no delete sent). */
  live: Map<number, Known>;
  /** Jobs whose delete was acknowledged. */
  gone: Set<number>;
  /** Every body ever sent, to check that whatever comes back is one of them. */
  sent: Set<string>;
  maxAcked: number;
  puts: number;
  deletes: number;
}

/**
 * After a restart: every live job is there, intact; no acknowledged delete
 * came back; a new id is above every acknowledged one. Then what was found
 * is the truth (unacknowledged puts may have made it).
 */
async function checkRestart(srv: OurServer, t: Truth): Promise<void> {
  const check = await Wire.open(srv.port);
  const found = new Map<number, Known>();
  const hi = t.maxAcked + 400;
  const peeks = [];
  for (let id = 1; id <= hi; id++) peeks.push(check.request(`peek ${id}`).then((r) => ({ id, r })));
  const stats = [];
  for (const { id, r } of await Promise.all(peeks)) {
    if (r.line.startsWith("FOUND")) {
      expect(t.sent.has(r.body!.toString("base64"))).toBe(true);
      stats.push(check.statsJob(id).then((s) => found.set(id, { body: r.body!, pri: Number(s!.pri) })));
    } else {
      expect(r.line).toBe("NOT_FOUND");
    }
  }
  await Promise.all(stats);
  for (const [id, k] of t.live) {
    const f = found.get(id);
    expect(f ? "present" : `missing ${id}`).toBe("present");
    expect(f!.body.equals(k.body)).toBe(true);
    expect(f!.pri).toBe(k.pri);
  }
  for (const id of t.gone) expect(found.has(id)).toBe(false);
  t.live.clear();
  for (const [id, k] of found) t.live.set(id, k);
  const firstNew = await check.put("probe");
  const probeId = Number(firstNew.line.split(" ")[1]);
  expect(probeId).toBeGreaterThan(t.maxAcked);
  expect((await check.request(`delete ${probeId}`)).line).toBe("DELETED");
  t.gone.add(probeId);
  check.close();
}

/** One connection's load: puts, and deletes of about half of what exists, until `stopped()` or the connection dies. */
async function putAndDelete(c: Wire, t: Truth, tag: string, maybeGone: Set<number>, stopped: () => boolean): Promise<void> {
  let n = 0;
  while (!stopped()) {
    const del = t.live.size > 0 && Math.random() < 0.45;
    if (del) {
      const ids = [...t.live.keys()];
      const id = ids[Math.floor(Math.random() * ids.length)]!;
      t.live.delete(id);
      maybeGone.add(id);
      try {
        const r = await c.request(`delete ${id}`);
        expect(r.line).toBe("DELETED");
        maybeGone.delete(id);
        t.gone.add(id);
        t.deletes++;
      } catch {
        return;
      }
    } else {
      const body = Buffer.concat([Buffer.from(`${tag}n${n++}:`), randomBytes(Math.floor(Math.random() * 3000))]);
      const pri = Math.floor(Math.random() * 2 ** 32);
      t.sent.add(body.toString("base64"));
      try {
        const r = await c.put(body, pri);
        const m = /^INSERTED (\d+)$/.exec(r.line);
        expect(m).not.toBeNull();
        const id = Number(m![1]);
        t.live.set(id, { body, pri });
        t.maxAcked = Math.max(t.maxAcked, id);
        t.puts++;
      } catch {
        return;
      }
    }
  }
}

/** CONNS connections load the server until it is killed at a random moment. */
async function loadUntilKilled(srv: OurServer, t: Truth, round: number): Promise<void> {
  /** Deletes sent but not acknowledged when the server died: either outcome is fine. */
  const maybeGone = new Set<number>();
  let stop = false;
  const clients = await Promise.all(Array.from({ length: CONNS }, () => Wire.open(srv.port)));
  const workers = clients.map((c, ci) => putAndDelete(c, t, `r${round}c${ci}`, maybeGone, () => stop));
  await Bun.sleep(150 + Math.random() * 600);
  await srv.kill();
  stop = true;
  await Promise.all(workers);
  for (const c of clients) c.close();
  // Deletes in flight at the kill may or may not have happened.
  for (const id of maybeGone) t.gone.delete(id);
}

test("acknowledged puts and deletes survive kill -9 at random points", async () => {
  const t: Truth = { live: new Map(), gone: new Set(), sent: new Set(), maxAcked: 0, puts: 0, deletes: 0 };
  for (let round = 0; round <= ROUNDS; round++) {
    const started = await launchWithLog(dir, ["-f", "0", "-s", "65536", "-z", "4096"]);
    expect(started.server).toBeDefined();
    const srv: OurServer = started.server!;
    await checkRestart(srv, t);
    if (round === ROUNDS) {
      expect(await srv.stop()).toBe(0);
      break;
    }
    await loadUntilKilled(srv, t, round);
  }
  expect(t.puts).toBeGreaterThan(200);
  expect(t.deletes).toBeGreaterThan(50);
}, 120_000);
