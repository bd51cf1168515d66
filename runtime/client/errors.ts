/**
 * Errors raised by the client.
 *
 * - `BeanstalkError`: the server answered, but not with the command's success
 *   reply. `code` is the protocol word (NOT_FOUND, BURIED, ...), or
 *   "UNEXPECTED" for a reply the command does not allow (`reply` holds it).
 * - `ConnectionError`: the command never got a reply, because the connection
 *   was closed (by us or the peer), failed, or the server broke the framing.
 */

/** The protocol words a command can fail with. */
export type ErrorCode =
  | "NOT_FOUND"
  | "BURIED"
  | "DEADLINE_SOON"
  | "DRAINING"
  | "JOB_TOO_BIG"
  | "EXPECTED_CRLF"
  | "BAD_FORMAT"
  | "UNKNOWN_COMMAND"
  | "OUT_OF_MEMORY"
  | "INTERNAL_ERROR"
  | "NOT_IGNORED"
  | "TIMED_OUT"
  | "UNEXPECTED";

const KNOWN: ReadonlySet<string> = new Set<ErrorCode>([
  "NOT_FOUND",
  "BURIED",
  "DEADLINE_SOON",
  "DRAINING",
  "JOB_TOO_BIG",
  "EXPECTED_CRLF",
  "BAD_FORMAT",
  "UNKNOWN_COMMAND",
  "OUT_OF_MEMORY",
  "INTERNAL_ERROR",
  "NOT_IGNORED",
  "TIMED_OUT",
]);

/** True when `word` is one of the protocol's error words. */
export function isErrorCode(word: string): word is Exclude<ErrorCode, "UNEXPECTED"> {
  return KNOWN.has(word);
}

export class BeanstalkError extends Error {
  constructor(
    /** The protocol word the server replied with. */
    readonly code: ErrorCode,
    /** The command that failed, e.g. "stats-job". */
    readonly command: string,
    /** For `BURIED` after `put`: the id of the job, which exists but is buried. */
    readonly id?: number,
    /** The reply line, when `code` is "UNEXPECTED". */
    readonly reply?: string,
  ) {
    super(code === "UNEXPECTED" ? `${command}: unexpected reply ${JSON.stringify(reply ?? "")}` : `${command}: ${code}`);
    this.name = "BeanstalkError";
  }
}

export type ConnectionErrorCode =
  /** The connection is closed (by `close()`/`quit()`, by the server, or after a socket error). */
  | "CONNECTION_CLOSED"
  /** The server sent bytes that are not a beanstalkd reply, or a reply nobody asked for. */
  | "PROTOCOL_ERROR";

export class ConnectionError extends Error {
  constructor(
    readonly code: ConnectionErrorCode,
    message: string,
    /** The command whose reply was lost, when there was one. */
    readonly command?: string,
    /** The socket error behind it, if any. */
    override readonly cause?: Error,
  ) {
    super(command ? `${command}: ${message}` : message);
    this.name = "ConnectionError";
  }
}
