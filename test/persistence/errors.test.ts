/** Refusals with clear messages: a locked, missing, unwritable directory; a full disk refuses puts but never deletes. */
import { afterAll, expect, test } from "bun:test";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { lockDir } from "../../runtime/persistence/lock.ts";
import { launchWithLog } from "../support/servers.ts";
import { removeDir, tempDir } from "../support/temp.ts";
import { Wire } from "../support/wire.ts";

const dirs: string[] = [];
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) {
    try {
      execFileSync("umount", [m]);
    } catch {
      // ignore
    }
  }
  dirs.forEach(removeDir);
});
function dir(): string {
  const d = tempDir("errors");
  dirs.push(d);
  return d;
}

/** Mounts a tmpfs of `size` at a new directory, or returns null where that is not allowed. */
function tmpfs(size: string, ro = false): string | null {
  const at = dir();
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}${ro ? ",ro" : ""}`, "tmpfs", at], { stdio: "ignore" });
  } catch {
    return null;
  }
  mounts.push(at);
  return at;
}

test("a second server on the same directory fails with a clear error; a killed one's lock is taken over", async () => {
  const d = dir();
  const a = await launchWithLog(d);
  expect(a.server).toBeDefined();
  expect(readFileSync(join(d, "lock"), "utf8").trim()).toBe(String(a.server!.pid));
  const b = await launchWithLog(d);
  expect(b.server).toBeUndefined();
  expect(b.exitCode).toBe(1);
  expect(b.stderr).toContain(`in use by another beanrun server (pid ${a.server!.pid}`);
  await a.server!.kill();
  const c = await launchWithLog(d);
  expect(c.server).toBeDefined();
  await c.server!.stop();
});

test("a stale lock file of a process that is gone does not block", async () => {
  const d = dir();
  writeFileSync(join(d, "lock"), "999999\n");
  const r = await launchWithLog(d);
  expect(r.server).toBeDefined();
  await r.server!.stop();
});

test("a lock whose pid now belongs to a process started after it was written (pid reuse) does not block", async () => {
  const d = dir();
  const other = spawn("sleep", ["30"], { stdio: "ignore" });
  try {
    writeFileSync(join(d, "lock"), `${other.pid}\n`);
    const hourAgo = Date.now() / 1000 - 3600;
    utimesSync(join(d, "lock"), hourAgo, hourAgo);
    const r = await launchWithLog(d);
    expect(r.server).toBeDefined();
    await r.server!.stop();
  } finally {
    other.kill("SIGKILL");
  }
});

test("a lock holding this very process's pid is stale (a restarted container is pid 1 again); two locks in one process are refused", () => {
  const d = dir();
  writeFileSync(join(d, "lock"), `${process.pid}\n`);
  const lock = lockDir(d);
  expect(readFileSync(join(d, "lock"), "utf8").trim()).toBe(String(process.pid));
  expect(() => lockDir(d)).toThrow(/in use by another server in this process/);
  lock.release();
  lockDir(d).release();
});

test("a missing directory is created when its parent exists; a missing parent is an error", async () => {
  const d = dir();
  const r = await launchWithLog(join(d, "wal"));
  expect(r.server).toBeDefined();
  await r.server!.stop();
  const bad = join(d, "no", "such", "dir");
  const e = await launchWithLog(bad);
  expect(e.exitCode).toBe(1);
  expect(e.stderr).toContain(`-b ${bad}: the directory does not exist`);
  expect(e.stderr).toContain("mkdir -p");
});

test("a path that is a file is refused", async () => {
  const d = dir();
  writeFileSync(join(d, "file"), "x");
  const e = await launchWithLog(join(d, "file"));
  expect(e.exitCode).toBe(1);
  expect(e.stderr).toContain("not a directory");
});

test("a read-only directory is refused with a clear error", async () => {
  let d: string;
  if (process.getuid?.() === 0) {
    const m = tmpfs("1m", true);
    if (!m) return; // root without mount: permissions cannot make a directory read-only for root
    d = m;
  } else {
    d = dir();
    mkdirSync(join(d, "ro"), { mode: 0o555 });
    d = join(d, "ro");
  }
  const e = await launchWithLog(d);
  expect(e.exitCode).toBe(1);
  expect(e.stderr).toMatch(/not writable|read-only|cannot create the lock file/);
});

test("a full disk refuses puts with OUT_OF_MEMORY, never fails a delete, and accepts puts again once space returns", async () => {
  const d = tmpfs("3m");
  if (!d) return; // needs mount (root); skipped elsewhere
  const r = await launchWithLog(d, ["-f", "0", "-s", "262144", "-z", "2000"]);
  expect(r.server).toBeDefined();
  const c = await Wire.open(r.server!.port);
  const ids: number[] = [];
  const body = "z".repeat(1500);
  let refused = "";
  for (let i = 0; i < 10000; i++) {
    const p = await c.put(body);
    if (p.line !== `INSERTED ${i + 1}`) {
      refused = p.line;
      break;
    }
    ids.push(i + 1);
  }
  expect(refused).toBe("OUT_OF_MEMORY");
  expect(ids.length).toBeGreaterThan(500);
  // Still refused a moment later; reads work.
  expect((await c.put(body)).line).toBe("OUT_OF_MEMORY");
  expect((await c.request(`peek ${ids[0]}`)).line).toMatch(/^FOUND/);
  // Every delete succeeds.
  for (const id of ids) expect((await c.request(`delete ${id}`)).line).toBe("DELETED");
  // Space comes back as the emptied files are removed; puts work again within a few seconds.
  let ok = "";
  for (let t = 0; t < 50 && !ok.startsWith("INSERTED"); t++) {
    await Bun.sleep(200);
    ok = (await c.put(body)).line;
  }
  expect(ok).toMatch(/^INSERTED/);
  expect(r.server!.stderr()).toContain("cannot preallocate");
  c.close();
  await r.server!.kill();
  // Everything deleted stays deleted.
  const again = await launchWithLog(d, ["-f", "0", "-s", "262144", "-z", "2000"]);
  expect(again.server).toBeDefined();
  const c2 = await Wire.open(again.server!.port);
  const st = await c2.stats();
  expect(st["current-jobs-ready"]).toBe("1");
  c2.close();
  await again.server!.stop();
}, 60_000);
