/**
 * Failure records kept by the server: the last one per job, for as long as
 * the job lives. Records are set with the `note` protocol extension (the
 * runner sends one for every failed attempt) and read with `peek-note`, the
 * console and `beanrun peek`.
 *
 * Memory is bounded by live jobs: a record is accepted only for a job that
 * exists, and a sweep (every SWEEP_MS, and whenever records outnumber live
 * jobs) drops the records of jobs that are gone.
 *
 * With -b, records also go to `failures.log` in the log directory, one JSON
 * line per record as it is set (written before the reply, not fsynced: a
 * crash of the process loses none, a power loss may lose the last ones).
 * On start the file is read back, records of jobs that did not come back
 * are dropped, and the file is rewritten compacted; it is compacted again
 * when dead lines outgrow live ones. The write-ahead log itself is not
 * touched, so its format and recovery stay as FORMAT.md describes.
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { type FailureRecord, parseFailureRecord } from "./record.ts";

/** Largest record accepted, in bytes of JSON. */
export const MAX_RECORD_BYTES = 32 * 1024;
const SWEEP_MS = 10_000;
const FILE = "failures.log";

export class FailureStore {
  private readonly records = new Map<number, string>();
  private fd: number | null = null;
  private path: string | null = null;
  private lines = 0;
  private timer: ReturnType<typeof setInterval> | null = null;

  /** `alive(id)`: whether the job exists now. */
  constructor(private readonly alive: (id: number) => boolean) {}

  get size(): number {
    return this.records.size;
  }

  /** Starts keeping records in DIR/failures.log, reading back those of jobs still alive. */
  openFile(dir: string, log: (line: string) => void = (l) => console.error(l)): void {
    this.path = join(dir, FILE);
    let text = "";
    try {
      text = fs.readFileSync(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT")
        log(`beanrun: cannot read ${this.path}: ${(e as Error).message}; failure records start empty`);
    }
    let bad = 0;
    for (const line of text.split("\n")) {
      if (!line) continue;
      const m = /^(\d+) (.*)$/.exec(line);
      const rec = m ? parseFailureRecord(m[2]!) : null;
      if (!m || !rec) {
        bad++;
        continue;
      }
      const id = Number(m[1]);
      if (this.alive(id)) this.records.set(id, m[2]!);
    }
    if (bad) log(`beanrun: ${this.path}: ${bad} unreadable line${bad === 1 ? "" : "s"} skipped`);
    this.compact();
  }

  /** Keeps `json` as job `id`'s record; false when the job does not exist or the record is not one. */
  set(id: number, json: string): boolean {
    if (!this.alive(id) || json.length > MAX_RECORD_BYTES || !parseFailureRecord(json)) return false;
    this.records.set(id, json);
    if (this.fd !== null) {
      try {
        fs.writeSync(this.fd, `${id} ${json}\n`);
        this.lines++;
      } catch (e) {
        console.error(`beanrun: cannot append to ${this.path}: ${(e as Error).message}; the record is kept in memory`);
      }
    }
    if (this.records.size > 1024 && this.timer === null) this.startSweeping();
    return true;
  }

  /** The record's JSON text, when the job has one and is alive. */
  getText(id: number): string | undefined {
    const t = this.records.get(id);
    if (t !== undefined && !this.alive(id)) {
      this.records.delete(id);
      return undefined;
    }
    return t;
  }

  get(id: number): FailureRecord | undefined {
    const t = this.getText(id);
    return t === undefined ? undefined : (parseFailureRecord(t) ?? undefined);
  }

  /** Drops records of jobs that are gone; compacts the file when dead lines dominate. */
  sweep(): void {
    for (const id of this.records.keys()) if (!this.alive(id)) this.records.delete(id);
    if (this.fd !== null && this.lines > 2 * this.records.size + 1000) this.compact();
  }

  private startSweeping(): void {
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Rewrites the file with live records only (temp file, then rename). */
  private compact(): void {
    if (!this.path) return;
    const tmp = `${this.path}.tmp`;
    try {
      if (this.fd !== null) fs.closeSync(this.fd);
      this.fd = null;
      let out = "";
      for (const [id, json] of this.records) out += `${id} ${json}\n`;
      fs.writeFileSync(tmp, out);
      fs.renameSync(tmp, this.path);
      this.fd = fs.openSync(this.path, "a");
      this.lines = this.records.size;
    } catch (e) {
      console.error(`beanrun: cannot rewrite ${this.path}: ${(e as Error).message}`);
      if (this.fd === null) this.fd = fs.openSync(this.path, "a");
    }
    if (this.timer === null) this.startSweeping();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
