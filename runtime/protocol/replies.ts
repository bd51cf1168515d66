/** Fixed reply lines, encoded once. */
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
