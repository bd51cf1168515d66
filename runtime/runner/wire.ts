/**
 * The worker's own view of a beanstalkd connection: only the commands its
 * job loop sends, on the client's pipelined Connection, with decoders that
 * skip what the loop does not need (stats-job is read for three numbers
 * without building the whole YAML map).
 */
import { platform } from "../adapters/platform.ts";
import { Connection, openSocket } from "../client/connection.ts";
import { BeanstalkError, isErrorCode } from "../client/errors.ts";
import type { Reply } from "../client/replies.ts";

export interface Reserved {
  id: number;
  body: Uint8Array;
}

/** What the loop needs from stats-job. */
export interface JobInfo {
  pri: number;
  ttr: number;
  /** How many times the job has been reserved, this time included. */
  reserves: number;
  /** How many times it was kicked out of the buried (or delayed) state. */
  kicks: number;
}

function fail(command: string, r: Reply): BeanstalkError {
  if (isErrorCode(r.word)) return new BeanstalkError(r.word, command);
  return new BeanstalkError("UNEXPECTED", command, undefined, [r.word, ...r.args].join(" "));
}

function idOf(command: string, r: Reply): number {
  const n = Number(r.args[0]);
  if (!Number.isSafeInteger(n) || n < 0) throw fail(command, r);
  return n;
}

const expect =
  (command: string, word: string) =>
  (r: Reply): void => {
    if (r.word !== word) throw fail(command, r);
  };

const D = {
  reserve: (r: Reply): Reserved => {
    if (r.word === "RESERVED") return { id: idOf("reserve", r), body: r.body! };
    throw fail("reserve", r);
  },
  reserveNow: (r: Reply): Reserved | null => {
    if (r.word === "RESERVED") return { id: idOf("reserve-with-timeout", r), body: r.body! };
    // DEADLINE_SOON: a job this batch already got has less than a second of TTR left (a TTR of 1 s always does).
    if (r.word === "TIMED_OUT" || r.word === "DEADLINE_SOON") return null;
    throw fail("reserve-with-timeout", r);
  },
  jobInfo: (r: Reply): JobInfo => {
    if (r.word !== "OK" || !r.body) throw fail("stats-job", r);
    const b = r.body;
    const pri = field(b, PRI);
    const ttr = field(b, TTR);
    const reserves = field(b, RESERVES);
    if (pri < 0 || ttr < 0 || reserves < 0)
      throw new BeanstalkError("UNEXPECTED", "stats-job", undefined, "stats-job reply without pri, ttr or reserves");
    return { pri, ttr, reserves, kicks: Math.max(0, field(b, KICKS)) };
  },
  delete: expect("delete", "DELETED"),
  release: expect("release", "RELEASED"),
  bury: expect("bury", "BURIED"),
  touch: expect("touch", "TOUCHED"),
  watching: (r: Reply): number => {
    if (r.word !== "WATCHING") throw fail("watch", r);
    return idOf("watch", r);
  },
};

export const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const PRI = ascii("\npri: ");
const TTR = ascii("\nttr: ");
const RESERVES = ascii("\nreserves: ");
const KICKS = ascii("\nkicks: ");

/** The unsigned integer after `key` (a "\nname: " line start) in a YAML body, or -1. */
export function field(b: Uint8Array, key: Uint8Array): number {
  const k0 = key[0]!;
  const kn = key.length;
  outer: for (let i = b.indexOf(k0); i >= 0 && i + kn < b.length; i = b.indexOf(k0, i + 1)) {
    for (let j = 1; j < kn; j++) if (b[i + j] !== key[j]) continue outer;
    let p = i + kn;
    if (b[p] === 34) p++; // 1.13 quotes strings, never numbers; be lenient anyway
    let n = 0;
    const start = p;
    for (let c = b[p]!; c >= 48 && c <= 57; c = b[++p]!) n = n * 10 + (c - 48);
    return p > start ? n : -1;
  }
  return -1;
}

export class WorkerConnection {
  private constructor(private readonly conn: Connection) {}

  /** On the runtime's native socket where it has one (a Bun worker then never loads node:net). */
  static async connect(host: string, port: number): Promise<WorkerConnection> {
    const native = platform().connect;
    return new WorkerConnection(new Connection(native ? await native(host, port) : await openSocket({ host, port })));
  }

  get closed(): boolean {
    return this.conn.closed;
  }

  close(): void {
    this.conn.close();
  }

  /** Half-close: replies already on their way still arrive (see Connection.end). */
  end(): Promise<void> {
    return this.conn.end();
  }

  watch(tube: string): Promise<number> {
    return this.conn.request("watch", `watch ${tube}\r\n`, D.watching);
  }

  ignore(tube: string): Promise<number> {
    return this.conn.request("ignore", `ignore ${tube}\r\n`, D.watching);
  }

  reserve(): Promise<Reserved> {
    return this.conn.request("reserve", "reserve\r\n", D.reserve);
  }

  /** reserve-with-timeout 0: a ready job now, or null (none ready, or DEADLINE_SOON for a job already held). */
  reserveNow(): Promise<Reserved | null> {
    return this.conn.request("reserve-with-timeout", "reserve-with-timeout 0\r\n", D.reserveNow);
  }

  /** reserve-with-timeout `seconds`: a job, or null when none came in time (TIMED_OUT takes no job). */
  reserveWithin(seconds: number): Promise<Reserved | null> {
    return this.conn.request("reserve-with-timeout", `reserve-with-timeout ${seconds}\r\n`, D.reserveNow);
  }

  jobInfo(id: number): Promise<JobInfo> {
    return this.conn.request("stats-job", `stats-job ${id}\r\n`, D.jobInfo);
  }

  delete(id: number): Promise<void> {
    return this.conn.request("delete", `delete ${id}\r\n`, D.delete);
  }

  release(id: number, pri: number, delay: number): Promise<void> {
    return this.conn.request("release", `release ${id} ${pri} ${delay}\r\n`, D.release);
  }

  bury(id: number, pri: number): Promise<void> {
    return this.conn.request("bury", `bury ${id} ${pri}\r\n`, D.bury);
  }

  touch(id: number): Promise<void> {
    return this.conn.request("touch", `touch ${id}\r\n`, D.touch);
  }
}
