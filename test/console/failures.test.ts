/**
 * Failure records kept by the server: set for live jobs only, shown by the
 * console's API with the job, dropped when the job goes, and with -b read
 * back after a restart (failures.log beside the log) for jobs that came back.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningServer, startServer } from "../../runtime/server/index.ts";
import { Wire } from "../support/wire.ts";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

/** Sends `input` (as UTF-8), half-closes, and returns every reply (latin1) once the server has closed. */
const send = (port: number, input: string): Promise<string> => Wire.exchange(port, Buffer.from(input));

const record = (attempt: number, message = "boom") =>
  JSON.stringify({
    message,
    stack: `Error: ${message}\n    at handler (jobs/mail.ts:3:9)`,
    attempt,
    at: 1_700_000_000_000,
    ms: 12,
    pid: 4242,
    outcome: "buried",
  });

test("a record is kept for a live job, shown with it, and dropped with it", async () => {
  const s = await startServer({ port: 0, httpPort: 0 });
  cleanup.push(() => s.close());
  await send(s.port, "use mail\r\nput 0 0 10 2\r\nhi\r\n");
  expect(s.failures.set(1, record(1))).toBe(true);
  expect(s.failures.set(1, record(2, "again"))).toBe(true);
  expect(s.failures.set(99, record(1))).toBe(false);
  expect(s.failures.set(1, '{"not":"a record"}')).toBe(false);
  const api = (await (await fetch(`http://127.0.0.1:${s.httpPort}/api/job?id=1`)).json()) as {
    job: { failure: { message: string; attempt: number; pid: number; stack: string } };
  };
  expect(api.job.failure).toMatchObject({ message: "again", attempt: 2, pid: 4242 });
  expect(api.job.failure.stack).toContain("jobs/mail.ts:3:9");
  await send(s.port, "delete 1\r\n");
  expect(s.failures.get(1)).toBeUndefined();
});

test("with -b, records of jobs that come back after a restart come back too", async () => {
  const dir = mkdtempSync(join(tmpdir(), "beanrun-failures-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  let s: RunningServer = await startServer({ port: 0, walDir: dir });
  await send(s.port, "use mail\r\nput 0 0 10 2\r\nhi\r\nput 0 0 10 2\r\nho\r\n");
  expect(s.failures.set(1, record(3, "kept"))).toBe(true);
  expect(s.failures.set(2, record(1, "gone"))).toBe(true);
  await send(s.port, "delete 2\r\n");
  await s.close();
  s = await startServer({ port: 0, walDir: dir });
  cleanup.push(() => s.close());
  expect(s.failures.get(1)).toMatchObject({ message: "kept", attempt: 3 });
  expect(s.failures.get(2)).toBeUndefined();
  // Rewritten on start: only the live record is left in the file.
  expect(readFileSync(join(dir, "failures.log"), "utf8").trim().split("\n")).toHaveLength(1);
});

test("the note and peek-note extensions: set over the wire, read back byte for byte, refused clearly", async () => {
  const s = await startServer({ port: 0 });
  cleanup.push(() => s.close());
  const rec = record(2, "über");
  const bytes = Buffer.byteLength(rec);
  const got = await send(
    s.port,
    `put 0 0 10 2\r\nhi\r\nnote 1 ${bytes}\r\n${rec}\r\npeek-note 1\r\nnote 9 2\r\n{}\r\nnote 1 4\r\nnope\r\nnote 1 2\r\n{}XX` +
      `note 1 99999\r\n${"x".repeat(99999)}\r\npeek-note 2\r\nnote 1\r\npeek-note x\r\n`,
  );
  const recLatin1 = Buffer.from(rec).toString("latin1");
  expect(got).toBe(
    `INSERTED 1\r\nNOTED\r\nFOUND 1 ${bytes}\r\n${recLatin1}\r\nNOT_FOUND\r\nBAD_FORMAT\r\nEXPECTED_CRLF\r\n` +
      "JOB_TOO_BIG\r\nNOT_FOUND\r\nBAD_FORMAT\r\nBAD_FORMAT\r\n",
  );
  // Standard commands are untouched: the extensions count in no stats field.
  expect(await send(s.port, "stats\r\n")).toContain("cmd-peek: 0");
});
