/**
 * Memory kept for reuse goes back once the server has gone quiet.
 *
 * The body arena, the reply buffers and the log's record buffer keep freed
 * buffers so that a busy server does not allocate and zero one per job. A
 * server that goes quiet after a burst (2,000 × 1 MiB bodies put and
 * deleted) would keep them for good: nothing it does later frees them, and
 * together they come to tens of MiB (issue 12 item 5: big-body memory is
 * returned after deletion). So `release` runs once after a quiet spell: no
 * event (read, write, timer) in a whole period of `ms` after the last one,
 * i.e. between `ms` and 2 × `ms` after the server went quiet. A server that
 * keeps working never pays for it; one that idles pays once, then nothing
 * until the next event.
 */

/** Quiet period after which kept memory is released. */
export const IDLE_RELEASE_MS = 2000;

export interface IdleRelease {
  /** Something happened: the server is not quiet. Called once per event. */
  busy(): void;
  stop(): void;
}

export function releaseWhenIdle(release: () => void, ms = IDLE_RELEASE_MS): IdleRelease {
  let active = false;
  /** Events came since the last release: one is due once they stop. */
  let due = false;
  const timer = setInterval(() => {
    if (active) {
      active = false;
      due = true;
    } else if (due) {
      due = false;
      release();
    }
  }, ms);
  // Never the reason the process stays up (Bun and Node; Deno's timers are plain numbers).
  (timer as { unref?: () => void }).unref?.();
  return {
    busy: () => {
      active = true;
    },
    stop: () => clearInterval(timer),
  };
}
