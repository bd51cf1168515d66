/** Torn and corrupted logs: detected, truncated, reported, never replayed; a bad header stops the start. */
import { afterAll, expect, test } from "bun:test";
import { appendFileSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Client, removeDir, startWal, tempDir } from "./helpers.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

/** A log with jobs 1..n (bodies "job i"), the server stopped by kill -9. Returns the dir and the file holding them. */
async function logWith(n: number): Promise<{ d: string; file: string }> {
  const d = tempDir("corrupt");
  dirs.push(d);
  const r = await startWal(d, ["-f", "0"]);
  const c = await Client.connect(r.server!.port);
  for (let i = 1; i <= n; i++) expect((await c.put(`job ${i}`, i)).line).toBe(`INSERTED ${i}`);
  c.close();
  await r.server!.kill9();
  return { d, file: join(d, "wal.1") };
}

/** Offset just past the data: the first zero length field after the header. */
function dataEnd(file: string): number {
  const b = readFileSync(file);
  let off = 32;
  while (off + 4 <= b.length && b.readUInt32LE(off) !== 0) off += b.readUInt32LE(off);
  return off;
}

async function jobsAfterRestart(d: string, n: number) {
  const r = await startWal(d, ["-f", "0"]);
  expect(r.server).toBeDefined();
  const c = await Client.connect(r.server!.port);
  const present: number[] = [];
  for (let i = 1; i <= n; i++) {
    const p = await c.send(`peek ${i}`);
    if (p.line.startsWith("FOUND")) {
      expect(p.body!.toString()).toBe(`job ${i}`);
      present.push(i);
    } else expect(p.line).toBe("NOT_FOUND");
  }
  const next = await c.put("next");
  c.close();
  await r.server!.stop();
  return { present, stderr: r.stderr, next: next.line };
}

test("random bytes appended after the data are ignored or truncated, never replayed", async () => {
  const { d, file } = await logWith(20);
  // Over the zero padding right after the last record, then past the end of the file.
  const end = dataEnd(file);
  const garbage = randomBytes(300);
  garbage[0] = 0xff; // make the length field non-zero
  const b = readFileSync(file);
  garbage.copy(b, end);
  writeFileSync(file, b);
  appendFileSync(file, randomBytes(1000));
  const { present, stderr, next } = await jobsAfterRestart(d, 20);
  expect(present.length).toBe(20);
  expect(stderr).toMatch(/wal\.1: bad record at offset \d+ .*truncated/);
  expect(statSync(file).size).toBe(end);
  expect(next).toBe("INSERTED 21");
  // A second start finds nothing more to repair.
  const again = await jobsAfterRestart(d, 20);
  expect(again.stderr).not.toMatch(/bad record/);
  expect(again.present.length).toBe(20);
});

test("a file truncated in the middle of a record (power loss) loses only that record", async () => {
  const { d, file } = await logWith(10);
  const end = dataEnd(file);
  truncateSync(file, end - 5);
  const { present, stderr } = await jobsAfterRestart(d, 10);
  expect(present).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(stderr).toMatch(/torn write/);
});

test("a flipped byte inside a record is caught by its checksum", async () => {
  const { d, file } = await logWith(10);
  const b = readFileSync(file);
  // Record 6's body: find "job 6" and change it.
  const at = b.indexOf("job 6");
  b[at + 4] = "7".charCodeAt(0);
  writeFileSync(file, b);
  const { present, stderr } = await jobsAfterRestart(d, 10);
  expect(present).toEqual([1, 2, 3, 4, 5]);
  expect(stderr).toMatch(/checksum mismatch/);
});

test("a file that is not a beanrun log stops the start with an explanation", async () => {
  const { d, file } = await logWith(3);
  const b = readFileSync(file);
  b.write("NOTOURS!", 0);
  writeFileSync(file, b);
  const r = await startWal(d, ["-f", "0"]);
  expect(r.server).toBeUndefined();
  expect(r.exitCode).toBe(1);
  expect(r.stderr).toMatch(/wal\.1: not a beanrun log file.*move it out of/);
  // The lock was released: fixing the problem is enough to start.
  expect(readdirSync(d)).not.toContain("lock");
});

test("a log from a newer format version is refused", async () => {
  const { d, file } = await logWith(1);
  const b = readFileSync(file);
  b.writeUInt32LE(99, 8);
  // Recompute the header checksum so only the version is "wrong".
  const { crc32 } = await import("../../runtime/persistence/crc.ts");
  b.writeUInt32LE(crc32(b.subarray(0, 24)), 24);
  writeFileSync(file, b);
  const r = await startWal(d, ["-f", "0"]);
  expect(r.exitCode).toBe(1);
  expect(r.stderr).toMatch(/format version 99.*newer beanrun/);
});
