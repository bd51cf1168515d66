/**
 * Cron schedules (croner): at each tick, put the schedule's payload into the
 * job's tube with the job's priority and TTR. Only the process that embeds
 * the server runs this, so worker-only processes never duplicate ticks.
 */
import { Cron } from "croner";
import type { ResolvedJob } from "./define.ts";
import { errorInfo, type RunnerEvents } from "./events.ts";

export type Put = (tube: string, body: string, opts: { priority: number; ttr: number; delay: number }) => Promise<number>;

export interface Scheduler {
  /** Next tick per schedule, for the start-up log. */
  readonly entries: ReadonlyArray<{ tube: string; cron: string; next: Date | null }>;
  stop(): void;
}

export function startScheduler(jobs: readonly ResolvedJob[], put: Put, events: RunnerEvents): Scheduler {
  const crons: Cron[] = [];
  const entries: { tube: string; cron: string; next: Date | null }[] = [];
  for (const job of jobs) {
    for (const s of job.schedules) {
      const body = JSON.stringify(s.payload);
      const cron = new Cron(s.cron, { timezone: s.timezone, protect: true, name: `${job.tube}: ${s.cron}` }, async (self: Cron) => {
        // The tick's scheduled time (the pattern's latest time up to now, with
        // a few ms for a timer that fires early), not when the callback ran:
        // a busy loop delays callbacks, and ticks are still told apart.
        const at = self.previousRuns(1, new Date(Date.now() + 5))[0]?.getTime() ?? Date.now();
        try {
          const id = await put(job.tube, body, { priority: job.priority, ttr: job.ttr, delay: 0 });
          events.emit({ type: "schedule.tick", tube: job.tube, cron: s.cron, id, at });
        } catch (e) {
          events.emit({ type: "schedule.failed", tube: job.tube, cron: s.cron, error: errorInfo(e) });
        }
      });
      crons.push(cron);
      entries.push({ tube: job.tube, cron: s.cron, next: cron.nextRun() });
    }
  }
  return {
    entries,
    stop: () => {
      for (const c of crons) c.stop();
    },
  };
}
