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

test("acknowledged puts and deletes survive kill -9 at random points", async () => {
  /** Jobs that must exist (acknowledged put, no delete sent). */
  const live = new Map<number, Known>();
  /** Jobs whose delete was acknowledged. */
  const gone = new Set<number>();
  /** Every body ever sent, to check that whatever comes back is one of them. */
  const sent = new Set<string>();
  let maxAcked = 0;
  let totalPuts = 0;
  let totalDeletes = 0;

  for (let round = 0; round <= ROUNDS; round++) {
    const started = await launchWithLog(dir, ["-f", "0", "-s", "65536", "-z", "4096"]);
    expect(started.server).toBeDefined();
    const srv: OurServer = started.server!;
    /** Deletes sent but not acknowledged when the server died: either outcome is fine. */
    const maybeGone = new Set<number>();

    // Check the previous round's outcome.
    const check = await Wire.open(srv.port);
    const found = new Map<number, Known>();
    const hi = Math.max(maxAcked, ...maybeGone) + 400;
    const peeks = [];
    for (let id = 1; id <= hi; id++) peeks.push(check.request(`peek ${id}`).then((r) => ({ id, r })));
    const stats = [];
    for (const { id, r } of await Promise.all(peeks)) {
      if (r.line.startsWith("FOUND")) {
        expect(sent.has(r.body!.toString("base64"))).toBe(true);
        stats.push(check.statsJob(id).then((s) => found.set(id, { body: r.body!, pri: Number(s!.pri) })));
      } else {
        expect(r.line).toBe("NOT_FOUND");
      }
    }
    await Promise.all(stats);
    for (const [id, k] of live) {
      const f = found.get(id);
      expect(f ? "present" : `missing ${id}`).toBe("present");
      expect(f!.body.equals(k.body)).toBe(true);
      expect(f!.pri).toBe(k.pri);
    }
    for (const id of gone) expect(found.has(id)).toBe(false);
    // From now on, what was found is the truth (unacknowledged puts may have made it).
    live.clear();
    for (const [id, k] of found) live.set(id, k);
    const firstNew = await check.put("probe");
    const probeId = Number(firstNew.line.split(" ")[1]);
    expect(probeId).toBeGreaterThan(maxAcked);
    expect((await check.request(`delete ${probeId}`)).line).toBe("DELETED");
    gone.add(probeId);
    check.close();
    if (round === ROUNDS) {
      expect(await srv.stop()).toBe(0);
      break;
    }

    // Load: each connection puts, and deletes about half of what exists.
    let stop = false;
    const clients = await Promise.all(Array.from({ length: CONNS }, () => Wire.open(srv.port)));
    const workers = clients.map(async (c, ci) => {
      let n = 0;
      while (!stop) {
        const del = live.size > 0 && Math.random() < 0.45;
        if (del) {
          const ids = [...live.keys()];
          const id = ids[Math.floor(Math.random() * ids.length)]!;
          live.delete(id);
          maybeGone.add(id);
          try {
            const r = await c.request(`delete ${id}`);
            expect(r.line).toBe("DELETED");
            maybeGone.delete(id);
            gone.add(id);
            totalDeletes++;
          } catch {
            return;
          }
        } else {
          const tag = Buffer.from(`r${round}c${ci}n${n++}:`);
          const body = Buffer.concat([tag, randomBytes(Math.floor(Math.random() * 3000))]);
          const pri = Math.floor(Math.random() * 2 ** 32);
          sent.add(body.toString("base64"));
          try {
            const r = await c.put(body, pri);
            const m = /^INSERTED (\d+)$/.exec(r.line);
            expect(m).not.toBeNull();
            const id = Number(m![1]);
            live.set(id, { body, pri });
            maxAcked = Math.max(maxAcked, id);
            totalPuts++;
          } catch {
            return;
          }
        }
      }
    });
    await Bun.sleep(150 + Math.random() * 600);
    await srv.kill();
    stop = true;
    await Promise.all(workers);
    for (const c of clients) c.close();
    // Deletes in flight at the kill may or may not have happened.
    for (const id of maybeGone) gone.delete(id);
  }
  expect(totalPuts).toBeGreaterThan(200);
  expect(totalDeletes).toBeGreaterThan(50);
}, 120_000);
