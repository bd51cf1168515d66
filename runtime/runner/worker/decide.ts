/**
 * What becomes of a job after its run: a pure function of the outcome, the
 * attempt and the module's retry policy, so the policy is tested directly.
 *
 * - the handler resolved: delete;
 * - the payload was unusable (not JSON, rejected by the schema): bury at once,
 *   never retried (retrying cannot make it valid);
 * - the handler threw before its last attempt: release with the backoff delay;
 * - it threw on its last attempt: bury (the dead-letter state);
 * - before the run: an attempt past the limit (earlier runs timed out or
 *   crashed without an outcome) is buried without running (`beforeRun`).
 */
import { type ResolvedJob, retryDelay } from "../define.ts";

/** A payload the handler must never see; the message says why. */
export class InvalidPayload extends Error {
  override name = "InvalidPayload";
}

export type Decision =
  | { action: "delete" }
  | { action: "release"; delay: number }
  | { action: "bury"; reason: "failed" | "invalid" | "exhausted" };

type Policy = Pick<ResolvedJob, "attempts" | "backoff">;

/** `error` null: the handler resolved. */
export function decide(error: unknown, attempt: number, job: Policy): Decision {
  if (error === null) return { action: "delete" };
  if (error instanceof InvalidPayload) return { action: "bury", reason: "invalid" };
  if (attempt < job.attempts) return { action: "release", delay: retryDelay(job.backoff, attempt) };
  return { action: "bury", reason: "failed" };
}

/** Null when the job may run; a bury decision when its attempts are used up already. */
export function beforeRun(attempt: number, job: Policy): Decision | null {
  return attempt > job.attempts ? { action: "bury", reason: "exhausted" } : null;
}
