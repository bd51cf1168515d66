/** Torn and corrupted logs: detected, reported, never replayed, never truncated; a file that is not ours stops the start. */
import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launchWithLog } from "../support/servers.ts";
import { removeDir, tempDir } from "../support/temp.ts";
import { Wire } from "../support/wire.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

/** A log with jobs 1..n (bodies "job i"), the server stopped by kill -9. Returns the dir and the file holding them. */
async function logWith(n: number): Promise<{ d: string; file: string }> {
  const d = tempDir("corrupt");
  dirs.push(d);
  const r = await launchWithLog(d, ["-f", "0"]);
  const c = await Wire.open(r.server!.port);
  for (let i = 1; i <= n; i++) expect((await c.put(`job ${i}`, i)).line).toBe(`INSERTED ${i}`);
  c.close();
  await r.server!.kill();
  return { d, file: join(d, "wal.1") };
}

/** Offset just past the data: the first zero length field after the header. */
function dataEnd(file: string): number {
  const b = readFileSync(file);
  let off = 32;
  while (off + 4 <= b.length && b.readUInt32LE(off) !== 0) off += b.readUInt32LE(off);
  return off;
}

/** The damaged file is moved aside once its valid records were rewritten; wait for it. */
async function movedAside(file: string): Promise<Buffer> {
  for (let i = 0; i < 100 && !existsSync(`${file}.damaged`); i++) await new Promise((r) => setTimeout(r, 50));
  return readFileSync(`${file}.damaged`);
}

async function jobsAfterRestart(d: string, n: number) {
  const r = await launchWithLog(d, ["-f", "0"]);
  expect(r.server).toBeDefined();
  const c = await Wire.open(r.server!.port);
  const present: number[] = [];
  for (let i = 1; i <= n; i++) {
    const p = await c.request(`peek ${i}`);
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

test("random bytes after the data are reported and never replayed; the file is kept aside, not truncated", async () => {
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
  expect(stderr).toMatch(new RegExp(`wal\\.1 bytes ${end}\\.\\.\\d+ \\(\\d+ bytes\\) are damaged .*no valid record follows`));
  expect(Number(next.split(" ")[1])).toBeGreaterThan(20);
  expect((await movedAside(file)).length).toBe(10485760 + 1000);
  expect(existsSync(file)).toBe(false);
  // A second start finds nothing more to repair.
  const again = await jobsAfterRestart(d, 20);
  expect(again.stderr).not.toMatch(/damaged/);
  expect(again.present.length).toBe(20);
});

test("a file truncated in the middle of a record (power loss) loses only that record", async () => {
  const { d, file } = await logWith(10);
  const end = dataEnd(file);
  truncateSync(file, end - 5);
  const { present, stderr } = await jobsAfterRestart(d, 10);
  expect(present).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(stderr).toMatch(/runs past the end of the file.*job of job 10/);
  expect(stderr).toMatch(/jobs 10 had a record in a damaged range/);
});

test("a flipped byte inside a record is caught by its checksum, and reading resumes after it", async () => {
  const { d, file } = await logWith(10);
  const b = readFileSync(file);
  // Record 6's body: find "job 6" and change it.
  const at = b.indexOf("job 6");
  b[at + 4] = "7".charCodeAt(0);
  writeFileSync(file, b);
  const { present, stderr } = await jobsAfterRestart(d, 10);
  expect(present).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10]);
  expect(stderr).toMatch(/checksum mismatch.*reading resumed/);
});

test("a file that is not a beanrun log stops the start with an explanation", async () => {
  const { d, file } = await logWith(3);
  const b = readFileSync(file);
  b.write("NOTOURS!", 0);
  writeFileSync(file, b);
  const r = await launchWithLog(d, ["-f", "0"]);
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
  b.writeUInt32LE(crc32(b.subarray(0, 28)), 28);
  writeFileSync(file, b);
  const r = await launchWithLog(d, ["-f", "0"]);
  expect(r.exitCode).toBe(1);
  expect(r.stderr).toMatch(/format version 99.*newer beanrun/);
});

/** A version 1 file (beanrun before the record key), written by hand: header, jobs 1..n, a delete of job 2. */
async function v1Log(n: number): Promise<{ d: string; buf: Buffer; offsets: number[] }> {
  const { crc32 } = await import("../../runtime/persistence/crc.ts");
  const d = tempDir("v1");
  dirs.push(d);
  const parts: Buffer[] = [];
  const head = Buffer.alloc(32);
  head.write("BEANRUNW", 0);
  head.writeUInt32LE(1, 8);
  head.writeUInt32LE(1, 12);
  head.writeDoubleLE(1, 16);
  head.writeUInt32LE(crc32(head.subarray(0, 24)), 24);
  parts.push(head);
  const offsets: number[] = [];
  let off = 32;
  const add = (r: Buffer): void => {
    r.writeUInt32LE(r.length, 0);
    r.writeUInt32LE(crc32(r.subarray(8)), 4);
    parts.push(r);
    offsets.push(off);
    off += r.length;
  };
  for (let i = 1; i <= n; i++) {
    const body = Buffer.from(`job ${i}`);
    const r = Buffer.alloc(72 + 7 + body.length);
    r[8] = 1;
    r[9] = 1;
    r.writeUInt16LE(7, 10);
    r.writeUInt32LE(i, 12);
    r.writeUInt32LE(60, 20);
    r.writeDoubleLE(i, 24);
    r.writeDoubleLE(Date.now(), 32);
    r.writeUInt32LE(body.length, 68);
    r.write("default", 72);
    body.copy(r, 79);
    add(r);
  }
  const del = Buffer.alloc(24);
  del[8] = 2;
  del.writeDoubleLE(2, 16);
  add(del);
  const buf = Buffer.concat([...parts, Buffer.alloc(65536)]);
  writeFileSync(join(d, "wal.1"), buf);
  return { d, buf, offsets };
}

test("a version 1 log is read (with a damaged record skipped by searching byte by byte), then its jobs move to version 2 files", async () => {
  const { d, buf, offsets } = await v1Log(10);
  buf[offsets[5]! + 40]! ^= 0xff; // job 6's creation time: checksum mismatch
  writeFileSync(join(d, "wal.1"), buf);
  const { present, stderr, next } = await jobsAfterRestart(d, 10);
  expect(present).toEqual([1, 3, 4, 5, 7, 8, 9, 10]);
  expect(stderr).toMatch(/checksum mismatch.*reading resumed.*job of job 6/);
  expect(Number(next.split(" ")[1])).toBeGreaterThan(10);
  // Its valid records were rewritten in version 2: the next start reads them without damage.
  await movedAside(join(d, "wal.1"));
  const again = await jobsAfterRestart(d, 10);
  expect(again.present).toEqual([1, 3, 4, 5, 7, 8, 9, 10]);
  expect(again.stderr).not.toMatch(/damaged/);
}, 60_000);

test("an undamaged version 1 log is read as it is and new records go to a version 2 file", async () => {
  const { d } = await v1Log(4);
  const { present, stderr, next } = await jobsAfterRestart(d, 4);
  expect(present).toEqual([1, 3, 4]);
  expect(stderr).not.toMatch(/damaged/);
  expect(next).toBe("INSERTED 5");
  expect(readdirSync(d).filter((n) => n.startsWith("wal.")).length).toBeGreaterThan(1);
});
