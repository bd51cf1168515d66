/** Disk use stays bounded under endless put/delete traffic, with long-lived jobs rewritten forward. */
import { afterAll, expect, test } from "bun:test";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { launchWithLog } from "../support/servers.ts";
import { removeDir, tempDir } from "../support/temp.ts";
import { Wire } from "../support/wire.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

function logBytes(d: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const n of readdirSync(d)) {
    if (!n.startsWith("wal.")) continue;
    // The running server may remove a compacted file between readdir and stat.
    const st = statSync(join(d, n), { throwIfNoEntry: false });
    if (!st) continue;
    files++;
    bytes += st.size;
  }
  return { files, bytes };
}

for (const compact of [true, false]) {
  test(compact
    ? "a long put/delete run keeps a few log files, and long-lived jobs survive being moved"
    : "-n: without compaction old files with live jobs stay", async () => {
    const d = tempDir("compact");
    dirs.push(d);
    const args = ["-f", "0", "-s", "65536", "-z", "1000", ...(compact ? [] : ["-n"])];
    let r = await launchWithLog(d, args);
    let c = await Wire.open(r.server!.port);
    const keep: number[] = [];
    for (let i = 0; i < 40; i++) keep.push(Number((await c.put(`keeper ${i}`, i)).line.split(" ")[1]));
    const conns = await Promise.all(Array.from({ length: 8 }, () => Wire.open(r.server!.port)));
    const body = "y".repeat(600);
    let maxFiles = 0;
    const ROUNDS = 2500; // 8 x 2500 x ~700 bytes: about 14 MB through 64 KB files
    await Promise.all(
      conns.map(async (k) => {
        for (let i = 0; i < ROUNDS; i++) {
          const id = (await k.put(body)).line.split(" ")[1];
          expect((await k.request(`delete ${id}`)).line).toBe("DELETED");
          if (i % 250 === 0) maxFiles = Math.max(maxFiles, logBytes(d).files);
        }
      }),
    );
    conns.forEach((k) => k.close());
    const st = await c.stats();
    const after = logBytes(d);
    if (compact) {
      expect(maxFiles).toBeLessThanOrEqual(10);
      expect(after.bytes).toBeLessThan(12 * 65536);
      expect(Number(st["binlog-records-migrated"])).toBeGreaterThan(0);
      expect(Number(st["binlog-oldest-index"])).toBeGreaterThan(50);
    } else {
      // The keepers pin the first file; every file since stays.
      expect(after.files).toBeGreaterThan(100);
      expect(st["binlog-oldest-index"]).toBe("1");
    }
    c.close();
    await r.server!.kill();
    r = await launchWithLog(d, args);
    c = await Wire.open(r.server!.port);
    for (let i = 0; i < keep.length; i++) {
      const p = await c.request(`peek ${keep[i]}`);
      expect(p.body?.toString()).toBe(`keeper ${i}`);
      expect((await c.statsJob(keep[i]!))!.pri).toBe(String(i));
    }
    const s = await c.stats();
    expect(s["current-jobs-ready"]).toBe("40");
    c.close();
    await r.server!.stop();
    // 40,000 fsynced round trips: 22-31 s alone at load 17, over 60 s inside the
    // whole suite at that load (npm test no longer retries a test that timed out).
  }, 180_000);
}
