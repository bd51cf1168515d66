/** A reply other than the command's success reply, named by its protocol word. */
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

export class BeanstalkError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly command: string,
    /** For BURIED after put: the id of the job, which exists but is buried. */
    readonly id?: number,
  ) {
    super(`${command}: ${code}`);
    this.name = "BeanstalkError";
  }
}
