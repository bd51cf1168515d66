/**
 * A failure record: what went wrong on a job's last failed attempt. The
 * runner writes one for every failed attempt; the server (or, against a
 * server that cannot keep them, the runner) keeps the last one per job for
 * as long as the job lives. The JSON form is what the `note` protocol
 * extension carries (docs/protocol-extensions.md).
 */
export interface FailureRecord {
  message: string;
  stack?: string;
  attempt: number;
  /** Epoch ms the attempt ended. */
  at: number;
  /** Handler duration in ms. */
  ms: number;
  pid?: number;
  /** What the runner did with the job: released for a retry, buried, or killed past its TTR. */
  outcome?: string;
}

/** Longest stack and message kept, in characters (a record stays small whatever was thrown). */
export const MAX_MESSAGE = 4096;
export const MAX_STACK = 16384;

/** Parses an untrusted record (from the wire or a log); null when it is not one. */
export function parseFailureRecord(text: string): FailureRecord | null {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof x !== "object" || x === null) return null;
  const o = x as Record<string, unknown>;
  if (typeof o.message !== "string" || typeof o.attempt !== "number" || typeof o.at !== "number" || typeof o.ms !== "number") return null;
  const r: FailureRecord = { message: o.message.slice(0, MAX_MESSAGE), attempt: o.attempt, at: o.at, ms: o.ms };
  if (typeof o.stack === "string") r.stack = o.stack.slice(0, MAX_STACK);
  if (typeof o.pid === "number") r.pid = o.pid;
  if (typeof o.outcome === "string") r.outcome = o.outcome.slice(0, 32);
  return r;
}
