/**
 * A worker's graceful stop: no new jobs; running handlers get `graceMs` to
 * finish (their signal is aborted so they can hurry); whatever still runs
 * after that is released so another worker can take it.
 */

import type { WorkerScope } from "./scope.ts";
import type { Slot } from "./slot.ts";

/** Resolves true when handlers were still running at the end of the grace period (their jobs were released). */
export async function shutdown(w: WorkerScope, slots: readonly Slot[], graceMs: number): Promise<boolean> {
  if (w.stopping) return false;
  w.stopping = true;
  const pid = process.pid;
  w.link.emit({ type: "worker.stopping", tube: w.job.tube, pid, running: w.held.size, graceMs });
  w.abort.abort(new Error("worker shutting down"));
  w.gate?.stop();
  // Slots blocked in a reserve hang up; a job the server gave one meanwhile still reaches it (see Slot.handBack).
  // The supervisor hears of it before the first FIN, and once every slot's reserves are settled (attempts.ts).
  w.link.send({ t: "hangingUp" });
  for (const c of w.idle) void c.end();
  void Promise.all(slots.map((s) => s.reserving)).then(() => w.link.send({ t: "hungUp" }));
  const all = Promise.all(slots.map((s) => s.batch?.catch(() => {})));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
  clearTimeout(timer);
  if (!late) return false;
  await Promise.all(
    [...w.held].map(async (h) => {
      try {
        await h.conn.release(h.id, h.info.pri, 0);
        const ms = h.started ? Math.round(performance.now() - h.started) : 0;
        w.link.emit({ type: "job.released", tube: w.job.tube, id: h.id, attempt: h.attempt, pid, ms });
      } catch (e) {
        w.link.emit({ type: "runner.error", tube: w.job.tube, msg: `could not release job ${h.id}: ${(e as Error).message}` });
      }
    }),
  );
  return true;
}
