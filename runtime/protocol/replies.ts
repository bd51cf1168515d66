/** Fixed reply lines, encoded once, and the reply for each queue Result. */
import { Result } from "../queue/counters.ts";

const line = (s: string) => Uint8Array.from(s + "\r\n", (c) => c.charCodeAt(0));

export const BAD_FORMAT = line("BAD_FORMAT");
export const UNKNOWN_COMMAND = line("UNKNOWN_COMMAND");
export const EXPECTED_CRLF = line("EXPECTED_CRLF");
export const JOB_TOO_BIG = line("JOB_TOO_BIG");
export const OUT_OF_MEMORY = line("OUT_OF_MEMORY");
export const INTERNAL_ERROR = line("INTERNAL_ERROR");
export const DRAINING = line("DRAINING");
export const NOT_FOUND = line("NOT_FOUND");
export const NOT_IGNORED = line("NOT_IGNORED");
export const DEADLINE_SOON = line("DEADLINE_SOON");
export const TIMED_OUT = line("TIMED_OUT");
export const DELETED = line("DELETED");
export const RELEASED = line("RELEASED");
export const BURIED = line("BURIED");
export const KICKED = line("KICKED");
export const TOUCHED = line("TOUCHED");
export const PAUSED = line("PAUSED");

/** Prefixes of replies that carry a job. */
export const FOUND = "FOUND ";
export const RESERVED = "RESERVED ";

/** The reply for a queue Result: `ok` for Result.Ok, the matching error line otherwise. */
export function replyFor(r: Result, ok: Uint8Array): Uint8Array {
  switch (r) {
    case Result.Ok:
      return ok;
    case Result.NotFound:
      return NOT_FOUND;
    case Result.OutOfMemory:
      return OUT_OF_MEMORY;
    case Result.ExpectedCrlf:
      return EXPECTED_CRLF;
    case Result.Draining:
      return DRAINING;
    case Result.DeadlineSoon:
      return DEADLINE_SOON;
    case Result.NotIgnored:
      return NOT_IGNORED;
    default:
      return INTERNAL_ERROR;
  }
}
