/**
 * A full disk never takes the queue down. On a small tmpfs: puts are
 * accepted while room for their deletes exists (spares shrink to what the
 * disk holds), refused with OUT_OF_MEMORY after; a server killed there
 * (kill -9) starts again without a new file, serves reads, reserves and
 * deletes and refuses puts; deletes that empty files give space back and
 * puts resume. Needs `mount -t tmpfs` (root): skipped with a message where
 * mounting is not permitted.
 */
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Launch, launchWithLog } from "../support/servers.ts";
import { removeDir, tempDir } from "../support/temp.ts";
import { Wire } from "../support/wire.ts";

const MNT = tempDir("diskfull");
const SIZE = 3 << 20;
const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${SIZE}`, "tmpfs", MNT]).status === 0;
let r: Launch | undefined;
afterAll(async () => {
  await r?.server?.kill();
  if (mounted) spawnSync("umount", [MNT]);
  removeDir(MNT);
});
if (!mounted) console.warn(`diskfull.test.ts: skipped: cannot mount a tmpfs at ${MNT} (needs root and mount permission)`);

const BODY = "x".repeat(4000);
const ARGS = ["-f", "0", "-s", "1048576"];

test.skipIf(!mounted)(
  "a full tmpfs: puts use the disk, a kill -9 restart listens, deletes give space back, puts resume",
  async () => {
    const d = join(MNT, "wal");
    mkdirSync(d);
    r = await launchWithLog(d, ARGS);
    let c = await Wire.open(r.server!.port);
    const ids: number[] = [];
    const fill = async (): Promise<void> => {
      for (;;) {
        const p = await c.put(BODY);
        if (p.line === "OUT_OF_MEMORY") return;
        expect(p.line).toMatch(/^INSERTED \d+$/);
        ids.push(Number(p.line.split(" ")[1]));
        if (ids.length > 2000) throw new Error("the disk never filled");
      }
    };
    await fill();
    console.log(`diskfull.test.ts: ${ids.length} puts of ${BODY.length} bytes accepted on a ${SIZE}-byte tmpfs with -s 1048576`);
    // Most of the 3 MiB holds jobs: a spare that cannot be full size is made smaller, not given up.
    expect(ids.length * 4000).toBeGreaterThan(0.6 * SIZE);
    // Deletes always have their room, even now.
    expect((await c.request(`delete ${ids.pop()}`)).line).toBe("DELETED");
    c.close();
    await r.server!.kill();

    // Restart on the full disk: it listens without preallocating anything.
    r = await launchWithLog(d, ARGS);
    expect(r.server).toBeDefined();
    c = await Wire.open(r.server!.port);
    expect((await c.request(`peek ${ids[0]}`)).line).toMatch(/^FOUND /);
    const res = await c.request("reserve-with-timeout 0");
    expect(res.line).toMatch(/^RESERVED \d+ 4000$/);
    expect((await c.request(`release ${res.line.split(" ")[1]} 0 0`)).line).toBe("RELEASED");
    // Room a spare being prepared at the kill had already taken is used; then puts are refused again.
    await fill();
    expect((await c.put(BODY)).line).toBe("OUT_OF_MEMORY");
    expect((await c.request(`delete ${ids.pop()}`)).line).toBe("DELETED");
    // Deleting the older half empties the oldest files; once they are removed puts come back.
    const half = ids.splice(0, Math.ceil(ids.length / 2));
    for (const id of half) expect((await c.request(`delete ${id}`)).line).toBe("DELETED");
    let line = "";
    for (let i = 0; i < 60; i++) {
      line = (await c.put("back")).line;
      if (line !== "OUT_OF_MEMORY") break;
      await Bun.sleep(250);
    }
    expect(line).toMatch(/^INSERTED \d+$/);
    const after = Number(line.split(" ")[1]);
    c.close();
    await r.server!.kill();

    // And everything is still there after one more restart.
    r = await launchWithLog(d, ARGS);
    c = await Wire.open(r.server!.port);
    for (const id of [...ids, after]) expect((await c.request(`peek ${id}`)).line).toMatch(/^FOUND /);
    for (const id of half) expect((await c.request(`peek ${id}`)).line).toBe("NOT_FOUND");
    c.close();
    await r.server!.stop();
  },
  120_000,
);

test.skipIf(!mounted)("a directory on a read-only file system is reported as such, not as a permissions problem", async () => {
  const ro = join(MNT, "ro");
  mkdirSync(ro);
  expect(spawnSync("mount", ["-t", "tmpfs", "-o", "ro,size=65536", "tmpfs", ro]).status).toBe(0);
  try {
    const res = await launchWithLog(ro, ["-f", "0"]);
    expect(res.server).toBeUndefined();
    expect(res.stderr).toMatch(/read-only file system/);
    expect(res.stderr).not.toMatch(/permissions/);
  } finally {
    spawnSync("umount", [ro]);
  }
});
