/**
 * A typed, promise-based beanstalkd client over node:net (Bun, Deno and the
 * compiled binary alike).
 *
 *   const c = await Client.connect({ port: 11300 });
 *   const id = await c.put("hello", { priority: 10, ttr: 60 });
 *   const job = await c.reserveWithTimeout(5); // null on TIMED_OUT
 *   if (job) { console.log(job.text()); await c.delete(job.id); }
 *
 * Commands may be pipelined: every call is written at once (calls made in the
 * same tick share one socket write) and replies are matched in order, so
 * `await Promise.all(ids.map((id) => c.delete(id)))` costs one round trip.
 * Remember that a blocking `reserve` holds up the replies of every command
 * sent after it on the same connection (that is how beanstalkd works).
 *
 * Results and errors:
 * - A reply other than the command's success reply rejects with a
 *   BeanstalkError whose `code` is the protocol word (NOT_FOUND, DRAINING,
 *   JOB_TOO_BIG, BAD_FORMAT, ...), except where noted: "nothing there" replies
 *   of peek/reserve-with-timeout/reserve-job resolve to null.
 * - `put` answered `BURIED <id>` (server out of memory) rejects with a
 *   BeanstalkError of code "BURIED" whose `id` is the new, buried job's id.
 * - When the connection ends, waiting commands reject with a ConnectionError
 *   (code "CONNECTION_CLOSED", or "PROTOCOL_ERROR" if the server sent garbage).
 * - Bad arguments (a negative or fractional number, a tube name with spaces)
 *   reject with a TypeError without anything being sent.
 */
import { type CloseListener, Connection, type ConnectOptions, type ErrorListener, openSocket } from "./connection.ts";
import { BeanstalkError, type ErrorCode, isErrorCode } from "./errors.ts";
import { Job } from "./job.ts";
import type { Reply } from "./replies.ts";
import { type JobStats, parseJobStats, parseServerStats, parseTubeStats, type ServerStats, type TubeStats } from "./stats.ts";
import { parseYamlList } from "./yaml.ts";

export type { CloseListener, ConnectOptions, ErrorListener } from "./connection.ts";
export { BeanstalkError, ConnectionError, type ConnectionErrorCode, type ErrorCode } from "./errors.ts";
export { Job, json, text } from "./job.ts";
export { type Reply, ReplyParseError, ReplyParser } from "./replies.ts";
export type { JobState, JobStats, RawStats, ServerStats, TubeStats } from "./stats.ts";
export { parseYamlList, parseYamlMap } from "./yaml.ts";

/** Priority used when a put/release/bury does not give one (the runner's default too; below 1024 counts as "urgent"). */
export const DEFAULT_PRIORITY = 1024;
/** Time-to-run in seconds used when a put does not give one. */
export const DEFAULT_TTR = 60;

export interface PutOptions {
  /** 0 is most urgent, 2**32-1 least; default DEFAULT_PRIORITY (1024). */
  priority?: number;
  /** Seconds before the job becomes ready; default 0. */
  delay?: number;
  /** Seconds a worker may hold the job before the server takes it back; default DEFAULT_TTR (60). */
  ttr?: number;
}

/** Old name of ServerStats/TubeStats/JobStats' common shape. */
export type Stats = ServerStats | TubeStats | JobStats;

const utf8 = new TextEncoder();
const textDecoder = new TextDecoder();

function fail(command: string, r: Reply): BeanstalkError {
  if (isErrorCode(r.word)) return new BeanstalkError(r.word as ErrorCode, command);
  return new BeanstalkError("UNEXPECTED", command, undefined, [r.word, ...r.args].join(" "));
}

function int(command: string, r: Reply, at = 0): number {
  const s = r.args[at];
  if (s === undefined || !/^\d+$/.test(s)) throw new BeanstalkError("UNEXPECTED", command, undefined, [r.word, ...r.args].join(" "));
  return Number(s);
}

/** A non-negative integer argument, as protocol text. */
function num(name: string, v: number): string {
  if (!Number.isSafeInteger(v) || v < 0) throw new TypeError(`${name} must be a non-negative integer, got ${v}`);
  return String(v);
}

/** A tube name argument: the server judges length and characters; we only refuse what would break the line. */
function tubeName(v: string): string {
  if (typeof v !== "string" || v.length === 0 || /[\s\x00-\x1f\x7f]/.test(v)) {
    throw new TypeError(`tube name must be a non-empty string without spaces or control characters, got ${JSON.stringify(v)}`);
  }
  return v;
}

function reject<T>(e: unknown): Promise<T> {
  return Promise.reject(e);
}

// Decoders, created once: each turns the reply into the command's result or throws.
const expectWord =
  (command: string, word: string) =>
  (r: Reply): void => {
    if (r.word !== word) throw fail(command, r);
  };
const jobOrNull =
  (command: string, word: "RESERVED" | "FOUND") =>
  (r: Reply): Job | null => {
    if (r.word === word) return new Job(int(command, r), r.body!);
    if (r.word === "NOT_FOUND") return null;
    throw fail(command, r);
  };
const okBody =
  <T>(command: string, parse: (text: string) => T) =>
  (r: Reply): T => {
    if (r.word !== "OK") throw fail(command, r);
    return parse(textDecoder.decode(r.body!));
  };
const countOf =
  (command: string, word: string) =>
  (r: Reply): number => {
    if (r.word !== word) throw fail(command, r);
    return int(command, r);
  };
const nameOf =
  (command: string, word: string) =>
  (r: Reply): string => {
    if (r.word !== word || r.args[0] === undefined) throw fail(command, r);
    return r.args[0];
  };

const D = {
  put: (r: Reply): number => {
    if (r.word === "INSERTED") return int("put", r);
    if (r.word === "BURIED") throw new BeanstalkError("BURIED", "put", int("put", r));
    throw fail("put", r);
  },
  use: nameOf("use", "USING"),
  reserve: (r: Reply): Job => {
    if (r.word === "RESERVED") return new Job(int("reserve", r), r.body!);
    throw fail("reserve", r);
  },
  reserveWithTimeout: (r: Reply): Job | null => {
    if (r.word === "RESERVED") return new Job(int("reserve-with-timeout", r), r.body!);
    if (r.word === "TIMED_OUT") return null;
    throw fail("reserve-with-timeout", r);
  },
  reserveJob: jobOrNull("reserve-job", "RESERVED"),
  delete: expectWord("delete", "DELETED"),
  release: expectWord("release", "RELEASED"),
  bury: expectWord("bury", "BURIED"),
  touch: expectWord("touch", "TOUCHED"),
  watch: countOf("watch", "WATCHING"),
  ignore: countOf("ignore", "WATCHING"),
  peek: jobOrNull("peek", "FOUND"),
  peekReady: jobOrNull("peek-ready", "FOUND"),
  peekDelayed: jobOrNull("peek-delayed", "FOUND"),
  peekBuried: jobOrNull("peek-buried", "FOUND"),
  kick: countOf("kick", "KICKED"),
  kickJob: expectWord("kick-job", "KICKED"),
  stats: okBody("stats", parseServerStats),
  statsTube: okBody("stats-tube", parseTubeStats),
  statsJob: okBody("stats-job", parseJobStats),
  listTubes: okBody("list-tubes", parseYamlList),
  listTubesWatched: okBody("list-tubes-watched", parseYamlList),
  listTubeUsed: nameOf("list-tube-used", "USING"),
  pauseTube: expectWord("pause-tube", "PAUSED"),
  note: expectWord("note", "NOTED"),
  peekNote: jobOrNull("peek-note", "FOUND"),
};

export class Client {
  private constructor(private readonly conn: Connection) {}

  /** Connects to a beanstalkd server (default 127.0.0.1:11300). Rejects with the socket error if it cannot. */
  static async connect(opts: ConnectOptions = {}): Promise<Client> {
    return new Client(new Connection(await openSocket(opts)));
  }

  // ---- connection --------------------------------------------------------------

  /** True once the connection has ended; every command then rejects with ConnectionError. */
  get closed(): boolean {
    return this.conn.closed;
  }

  /** Commands sent whose replies have not arrived yet. */
  get pending(): number {
    return this.conn.pending;
  }

  /** "close" runs once when the connection ends, for any reason; "error" on each socket error. */
  on(event: "close", fn: CloseListener): this;
  on(event: "error", fn: ErrorListener): this;
  on(event: "close" | "error", fn: CloseListener | ErrorListener): this {
    if (event === "close") this.conn.on("close", fn as CloseListener);
    else this.conn.on("error", fn as ErrorListener);
    return this;
  }

  off(event: "close" | "error", fn: CloseListener | ErrorListener): this {
    this.conn.off(event, fn);
    return this;
  }

  /** Same as on("close", fn); runs at once if already closed. */
  onClose(fn: CloseListener): void {
    this.conn.on("close", fn);
  }

  /** Closes the connection at once. Commands still waiting reject with ConnectionError; a reserved job goes back to ready. */
  close(): void {
    this.conn.close();
  }

  /** Sends "quit" behind the commands already sent (they still get their replies) and resolves once the server closed. */
  quit(): Promise<void> {
    return this.conn.quit();
  }

  /** Lets the process exit while the connection is open. */
  unref(): this {
    this.conn.unref();
    return this;
  }

  ref(): this {
    this.conn.ref();
    return this;
  }

  // ---- producer commands -------------------------------------------------------

  /**
   * Puts a job into the used tube; resolves with its id. Rejects with
   * BeanstalkError "BURIED" (carrying `id`) if the server buried it,
   * "JOB_TOO_BIG", "DRAINING", "EXPECTED_CRLF", ...
   */
  put(body: Uint8Array | string, opts: PutOptions = {}): Promise<number> {
    let line: string;
    try {
      const pri = num("priority", opts.priority ?? DEFAULT_PRIORITY);
      const delay = num("delay", opts.delay ?? 0);
      const ttr = num("ttr", opts.ttr ?? DEFAULT_TTR);
      if (typeof body === "string") body = utf8.encode(body);
      else if (!(body instanceof Uint8Array)) throw new TypeError("put: body must be a string or a Uint8Array");
      line = `put ${pri} ${delay} ${ttr} ${body.length}\r\n`;
    } catch (e) {
      return reject(e);
    }
    return this.conn.request("put", line, D.put, body);
  }

  /** Puts subsequent jobs into `tube`; resolves with the tube's name. */
  use(tube: string): Promise<string> {
    return this.command("use", () => `use ${tubeName(tube)}\r\n`, D.use);
  }

  // ---- worker commands ---------------------------------------------------------

  /** Waits for a job from the watched tubes. Rejects with "DEADLINE_SOON" when a job this connection holds is about to time out. */
  reserve(): Promise<Job> {
    return this.conn.request("reserve", "reserve\r\n", D.reserve);
  }

  /** Waits up to `seconds` (0: don't wait) for a job; null on TIMED_OUT. Rejects with "DEADLINE_SOON" as reserve does. */
  reserveWithTimeout(seconds: number): Promise<Job | null> {
    return this.command("reserve-with-timeout", () => `reserve-with-timeout ${num("seconds", seconds)}\r\n`, D.reserveWithTimeout);
  }

  /** Reserves the job with this id if it is ready, delayed or buried; null on NOT_FOUND. */
  reserveJob(id: number): Promise<Job | null> {
    return this.command("reserve-job", () => `reserve-job ${num("id", id)}\r\n`, D.reserveJob);
  }

  /** Deletes a job (reserved by this connection, or ready, delayed, buried). Rejects with "NOT_FOUND". */
  delete(id: number): Promise<void> {
    return this.command("delete", () => `delete ${num("id", id)}\r\n`, D.delete);
  }

  /** Puts a job this connection reserved back, ready (or delayed). Rejects with "NOT_FOUND", or "BURIED" if the server ran out of memory. */
  release(id: number, priority: number = DEFAULT_PRIORITY, delay = 0): Promise<void> {
    return this.command("release", () => `release ${num("id", id)} ${num("priority", priority)} ${num("delay", delay)}\r\n`, D.release);
  }

  /** Buries a job this connection reserved. Rejects with "NOT_FOUND". */
  bury(id: number, priority: number = DEFAULT_PRIORITY): Promise<void> {
    return this.command("bury", () => `bury ${num("id", id)} ${num("priority", priority)}\r\n`, D.bury);
  }

  /** Restarts the TTR of a job this connection reserved. Rejects with "NOT_FOUND". */
  touch(id: number): Promise<void> {
    return this.command("touch", () => `touch ${num("id", id)}\r\n`, D.touch);
  }

  /** Adds a tube to the watch list; resolves with the number of tubes watched. */
  watch(tube: string): Promise<number> {
    return this.command("watch", () => `watch ${tubeName(tube)}\r\n`, D.watch);
  }

  /** Removes a tube from the watch list; resolves with the number still watched. Rejects with "NOT_IGNORED" for the last one. */
  ignore(tube: string): Promise<number> {
    return this.command("ignore", () => `ignore ${tubeName(tube)}\r\n`, D.ignore);
  }

  // ---- other commands ----------------------------------------------------------

  /** The job with this id, in any state; null on NOT_FOUND. */
  peek(id: number): Promise<Job | null> {
    return this.command("peek", () => `peek ${num("id", id)}\r\n`, D.peek);
  }

  /** The next ready job of the used tube, or null. */
  peekReady(): Promise<Job | null> {
    return this.conn.request("peek-ready", "peek-ready\r\n", D.peekReady);
  }

  /** The delayed job of the used tube with the least delay left, or null. */
  peekDelayed(): Promise<Job | null> {
    return this.conn.request("peek-delayed", "peek-delayed\r\n", D.peekDelayed);
  }

  /** The oldest buried job of the used tube, or null. */
  peekBuried(): Promise<Job | null> {
    return this.conn.request("peek-buried", "peek-buried\r\n", D.peekBuried);
  }

  /** Kicks up to `bound` buried jobs of the used tube (or, if it has none, delayed ones); resolves with how many. */
  kick(bound: number): Promise<number> {
    return this.command("kick", () => `kick ${num("bound", bound)}\r\n`, D.kick);
  }

  /** Kicks one buried or delayed job. Rejects with "NOT_FOUND". */
  kickJob(id: number): Promise<void> {
    return this.command("kick-job", () => `kick-job ${num("id", id)}\r\n`, D.kickJob);
  }

  /** Server statistics. */
  stats(): Promise<ServerStats> {
    return this.conn.request("stats", "stats\r\n", D.stats);
  }

  /** Statistics of a tube. Rejects with "NOT_FOUND". */
  statsTube(tube: string): Promise<TubeStats> {
    return this.command("stats-tube", () => `stats-tube ${tubeName(tube)}\r\n`, D.statsTube);
  }

  /** Statistics of a job. Rejects with "NOT_FOUND". */
  statsJob(id: number): Promise<JobStats> {
    return this.command("stats-job", () => `stats-job ${num("id", id)}\r\n`, D.statsJob);
  }

  /** Names of all existing tubes. */
  listTubes(): Promise<string[]> {
    return this.conn.request("list-tubes", "list-tubes\r\n", D.listTubes);
  }

  /** Names of the tubes this connection watches. */
  listTubesWatched(): Promise<string[]> {
    return this.conn.request("list-tubes-watched", "list-tubes-watched\r\n", D.listTubesWatched);
  }

  /** The tube this connection puts into. */
  listTubeUsed(): Promise<string> {
    return this.conn.request("list-tube-used", "list-tube-used\r\n", D.listTubeUsed);
  }

  /** Holds back reserves from `tube` for `seconds`. Rejects with "NOT_FOUND". */
  pauseTube(tube: string, seconds: number): Promise<void> {
    return this.command("pause-tube", () => `pause-tube ${tubeName(tube)} ${num("seconds", seconds)}\r\n`, D.pauseTube);
  }

  // ---- beanrun extensions (docs/protocol-extensions.md; beanstalkd answers UNKNOWN_COMMAND) ----

  /** Sets job `id`'s failure record (JSON text). Rejects with "NOT_FOUND", "BAD_FORMAT", or "UNKNOWN_COMMAND" from a server without the extension. */
  note(id: number, record: string): Promise<void> {
    let line: string;
    const body = utf8.encode(record);
    try {
      line = `note ${num("id", id)} ${body.length}\r\n`;
    } catch (e) {
      return reject(e);
    }
    return this.conn.request("note", line, D.note, body);
  }

  /** Job `id`'s failure record as JSON text, or null when the job has none (or does not exist). */
  async peekNote(id: number): Promise<string | null> {
    const j = await this.command("peek-note", () => `peek-note ${num("id", id)}\r\n`, D.peekNote);
    return j ? textDecoder.decode(j.body) : null;
  }

  private command<T>(name: string, line: () => string, decode: (r: Reply) => T): Promise<T> {
    let text: string;
    try {
      text = line();
    } catch (e) {
      return reject(e);
    }
    return this.conn.request(name, text, decode);
  }
}

/** Connects to a beanstalkd server: `await connect(11300, "127.0.0.1")`. */
export function connect(port = 11300, host = "127.0.0.1", opts: Omit<ConnectOptions, "host" | "port"> = {}): Promise<Client> {
  return Client.connect({ ...opts, host, port });
}
