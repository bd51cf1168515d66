/**
 * The pure timing rules of a worker slot, apart from any I/O so they can be
 * tested directly:
 *
 * - Batch size. While handlers finish quickly and the tube has jobs waiting,
 *   a slot asks for several jobs per round trip. The size adapts so that a
 *   batch takes about BATCH_MS: it doubles while batches come back full,
 *   never past what fits in BATCH_MS at the recent time per job, and falls
 *   to one (a blocking reserve) when nothing is waiting.
 * - Keep-alive of held jobs. A job waiting in its batch behind a slow
 *   handler is touched once it has waited TOUCH_AFTER_MS, so its TTR does
 *   not run out before it starts.
 * - The module's ttr is the handler's deadline (issue 7): the supervisor
 *   kills at start + the module's ttr; when the job's own TTR (the
 *   producer's) would end first, the running job is touched every
 *   `keepAliveMs` so the server does not hand it to another worker.
 */

/** Expected duration of one batch. */
export const BATCH_MS = 10;
/** Most jobs a slot asks for in one round trip. */
export const MAX_BATCH = 32;
/** Outcomes held back to go out with the next reserves are sent at once after this long. */
export const HOLD_OUTCOMES_MS = 20;
/** A job held longer than this before its handler starts is touched first (its TTR starts again). */
export const TOUCH_AFTER_MS = 200;

export class BatchSizer {
  /** Jobs to ask for next round trip. */
  want = 1;
  /** Recent handler time per job (ms), smoothed. */
  private perJob = 0;

  /** Nothing was waiting: block in reserve next. */
  empty(): void {
    this.want = 1;
  }

  /** A batch of `size` jobs ran in `elapsedMs`. */
  ran(size: number, elapsedMs: number): void {
    const each = elapsedMs / size;
    this.perJob = this.perJob === 0 ? each : this.perJob * 0.7 + each * 0.3;
    const fits = Math.max(1, Math.floor(BATCH_MS / Math.max(this.perJob, 0.001)));
    // Grow while batches come back full (jobs are waiting), never past what fits in BATCH_MS.
    this.want = size === this.want ? Math.min(MAX_BATCH, fits, this.want * 2) : Math.max(1, Math.min(fits, size + 1));
  }
}

/** Indexes of the held jobs (from `from` on) that have waited long enough to be touched. */
export function heldDueForTouch(reservedAt: readonly number[], from: number, now: number): number[] {
  const due: number[] = [];
  for (let i = from; i < reservedAt.length; i++) if (now - reservedAt[i]! >= TOUCH_AFTER_MS) due.push(i);
  return due;
}

/**
 * Milliseconds between keep-alive touches of a running job whose own TTR is
 * `jobTtr` seconds, when the module's is `moduleTtr`; null when the server's
 * reservation outlasts the handler's deadline anyway (jobTtr > moduleTtr).
 * Equal TTRs are touched too: the reservation started a little before the
 * handler did, so it would end a little before the kill.
 */
export function keepAliveMs(jobTtr: number, moduleTtr: number): number | null {
  if (jobTtr > moduleTtr) return null;
  const t = Math.max(1, jobTtr) * 1000;
  return Math.max(t / 2, t - 1000);
}
