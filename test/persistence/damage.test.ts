/**
 * A damaged log loses only what is damaged: one flipped byte at several
 * places of a log of 300 jobs (every 3rd deleted). After a restart every
 * job outside the damaged record is there with its body, deleted jobs stay
 * deleted unless their delete was the damaged record (and that is
 * reported), ids are not handed out again, the file is moved aside as
 * wal.1.damaged with its bytes intact, and a second restart finds the same
 * jobs and nothing to repair.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launchWithLog } from "../support/servers.ts";
import { removeDir, tempDir } from "../support/temp.ts";
import { Wire } from "../support/wire.ts";

const N = 300;
const body = (i: number) => `job ${i} `.padEnd(100, String.fromCharCode(97 + (i % 26)));
const deleted = (i: number) => i % 3 === 0;
const dirs: string[] = [];
let base = "";
afterAll(() => dirs.forEach(removeDir));

interface Rec {
  off: number;
  len: number;
  type: number;
  id: number;
}

/** The records of a version 2 log file, in order. */
function records(buf: Buffer): Rec[] {
  const out: Rec[] = [];
  for (let off = 32; off + 4 <= buf.length; ) {
    const len = buf.readUInt32LE(off);
    if (len === 0) break;
    const type = buf[off + 12]!;
    out.push({ off, len, type, id: buf.readDoubleLE(off + (type === 1 ? 28 : 20)) });
    off += len;
  }
  return out;
}

beforeAll(async () => {
  base = tempDir("damage-base");
  dirs.push(base);
  const r = await launchWithLog(base, ["-F"]);
  const c = await Wire.open(r.server!.port);
  // Pipelined: one round trip each for the puts and the deletes, however loaded the machine.
  const puts = await Promise.all(Array.from({ length: N }, (_, k) => c.put(body(k + 1), k + 1)));
  puts.forEach((p, k) => expect(p.line).toBe(`INSERTED ${k + 1}`));
  const dels = await Promise.all(Array.from({ length: N / 3 }, (_, k) => c.request(`delete ${3 * (k + 1)}`)));
  for (const d of dels) expect(d.line).toBe("DELETED");
  c.close();
  await r.server!.kill(); // -F: everything acknowledged is in the kernel, so on disk for the next process
}, 60_000);

async function present(port: number): Promise<Set<number>> {
  const c = await Wire.open(port);
  const ids = new Set<number>();
  const peeks = await Promise.all(Array.from({ length: N }, (_, k) => c.request(`peek ${k + 1}`)));
  peeks.forEach((p, k) => {
    if (p.line.startsWith("FOUND")) {
      expect(p.body!.toString()).toBe(body(k + 1));
      ids.add(k + 1);
    } else expect(p.line).toBe("NOT_FOUND");
  });
  c.close();
  return ids;
}

const find = (recs: Rec[], type: number, id: number) => recs.find((r) => r.type === type && r.id === id)!;

const cases: { what: string; at: (recs: Rec[]) => number; lost: number[]; back: number[]; unnamed?: boolean }[] = [
  { what: "a job's body", at: (r) => find(r, 1, 151).off + 76 + 7 + 20, lost: [151], back: [] },
  { what: "a record's length field", at: (r) => find(r, 1, 100).off, lost: [100], back: [] },
  { what: "a record's checksum", at: (r) => find(r, 1, 200).off + 5, lost: [200], back: [] },
  { what: "a record's key", at: (r) => find(r, 1, 250).off + 9, lost: [250], back: [] },
  { what: "a delete's checksum", at: (r) => find(r, 2, 99).off + 4, lost: [], back: [99] },
  // The id itself is unreadable: the job comes back and the report can only say that some delete was lost.
  { what: "a delete's job id", at: (r) => find(r, 2, 201).off + 21, lost: [], back: [201], unnamed: true },
  { what: "the file header", at: () => 20, lost: [], back: [] },
];

for (const k of cases) {
  test(`one flipped byte in ${k.what} loses that record only; ids are not given again; the file is moved aside`, async () => {
    const d = tempDir("damage");
    dirs.push(d);
    cpSync(base, d, { recursive: true });
    const file = join(d, "wal.1");
    const buf = readFileSync(file);
    const at = k.at(records(buf));
    buf[at]! ^= 0x5a;
    writeFileSync(file, buf);

    const r = await launchWithLog(d, ["-f", "0"]);
    expect(r.server).toBeDefined();
    const err = r.stderr;
    expect(err).toMatch(/wal\.1 bytes \d+\.\.\d+ \(\d+ bytes\) are damaged/);
    const ids = await present(r.server!.port);
    const want = new Set<number>();
    for (let i = 1; i <= N; i++) if ((!deleted(i) && !k.lost.includes(i)) || k.back.includes(i)) want.add(i);
    expect([...ids].sort((a, b) => a - b)).toEqual([...want].sort((a, b) => a - b));
    for (const id of k.lost) expect(err).toMatch(new RegExp(`jobs [\\d, ]*\\b${id}\\b[\\d, ]* had a record in a damaged range`));
    for (const id of k.back) {
      if (!k.unnamed) expect(err).toMatch(new RegExp(`jobs [\\d, ]*\\b${id}\\b[\\d, ]* are live again`));
    }
    expect(err).toMatch(/a delete or newer state of any older job may have been lost/);
    // Ids are never handed out again, whatever the damage held.
    const c = await Wire.open(r.server!.port);
    const next = Number((await c.put("after")).line.split(" ")[1]);
    expect(next).toBeGreaterThan(N);
    c.close();
    // Once its valid records are rewritten and on disk, the file is moved aside, bytes intact.
    for (let i = 0; i < 100 && !existsSync(`${file}.damaged`); i++) await Bun.sleep(50);
    expect(readFileSync(`${file}.damaged`).equals(buf)).toBe(true);
    expect(readdirSync(d)).not.toContain("wal.1");
    await r.server!.kill();

    // A second start: nothing left to repair, the same jobs, ids still above.
    const r2 = await launchWithLog(d, ["-f", "0"]);
    expect(r2.stderr).not.toMatch(/damaged/);
    const ids2 = await present(r2.server!.port);
    expect([...ids2].sort((a, b) => a - b)).toEqual([...want].sort((a, b) => a - b));
    const c2 = await Wire.open(r2.server!.port);
    expect((await c2.request(`peek ${next}`)).body?.toString()).toBe("after");
    expect(Number((await c2.put("later")).line.split(" ")[1])).toBeGreaterThan(next);
    c2.close();
    await r2.server!.stop();
  }, 60_000);
}

test("a job body shaped like a record is not taken for one when reading resumes after damage", async () => {
  const { crc32 } = await import("../../runtime/persistence/crc.ts");
  const d = tempDir("damage-forge");
  dirs.push(d);
  let r = await launchWithLog(d, ["-F"]);
  const c = await Wire.open(r.server!.port);
  expect((await c.put("victim")).line).toBe("INSERTED 1");
  // A client-made "delete job 1" record (version 2 layout), with a key guessed as well as a client can.
  const fake = Buffer.alloc(28);
  fake.writeUInt32LE(28, 0);
  fake.writeUInt32LE(0x12345678, 8);
  fake[12] = 2;
  fake.writeDoubleLE(1, 20);
  fake.writeUInt32LE(crc32(fake.subarray(8)), 4);
  expect((await c.put(Buffer.concat([Buffer.from("x"), fake, Buffer.from("y")]))).line).toBe("INSERTED 2");
  expect((await c.put("after")).line).toBe("INSERTED 3");
  c.close();
  await r.server!.kill();
  const file = join(d, "wal.1");
  const buf = readFileSync(file);
  buf[find(records(buf), 1, 2).off]! ^= 0x5a; // job 2's length: the reader must search through its body
  writeFileSync(file, buf);
  r = await launchWithLog(d, ["-f", "0"]);
  const c2 = await Wire.open(r.server!.port);
  expect((await c2.request("peek 1")).body?.toString()).toBe("victim");
  expect((await c2.request("peek 3")).body?.toString()).toBe("after");
  expect((await c2.request("peek 2")).line).toBe("NOT_FOUND");
  c2.close();
  await r.server!.stop();
});
