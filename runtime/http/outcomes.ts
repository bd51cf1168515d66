/**
 * Job outcomes aggregated for the console and /metrics: per-tube counters
 * (done, failed, retried, buried), a handler-duration histogram, worker
 * restarts, schedule ticks and misses, done/failed per minute over the last
 * hour, and live subscribers (the page's and `beanrun tail`'s event stream).
 * Fed by the runner; all in memory and bounded by the number of tubes.
 */
import type { JobOutcome } from "./runner-view.ts";

/** Histogram bucket bounds in seconds (Prometheus `le`). */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;

export interface TubeOutcomes {
  done: number;
  failed: number;
  retried: number;
  buried: number;
  /** Cumulative counts per DURATION_BUCKETS bound, then +Inf. */
  buckets: number[];
  durationSum: number;
  durationCount: number;
  workerRestarts: number;
  scheduleTicks: number;
  scheduleMisses: number;
}

export interface MinuteBucket {
  /** Epoch ms of the minute's start. */
  at: number;
  done: number;
  failed: number;
}

const MINUTES = 60;

export class Outcomes {
  readonly tubes = new Map<string, TubeOutcomes>();
  private readonly minutes: MinuteBucket[] = [];
  private readonly listeners = new Set<(o: JobOutcome) => void>();

  constructor(private readonly now: () => number = Date.now) {}

  private tube(name: string): TubeOutcomes {
    let t = this.tubes.get(name);
    if (!t) {
      t = {
        done: 0,
        failed: 0,
        retried: 0,
        buried: 0,
        buckets: new Array(DURATION_BUCKETS.length + 1).fill(0),
        durationSum: 0,
        durationCount: 0,
        workerRestarts: 0,
        scheduleTicks: 0,
        scheduleMisses: 0,
      };
      this.tubes.set(name, t);
    }
    return t;
  }

  private minute(at: number): MinuteBucket {
    const start = at - (at % 60_000);
    let last = this.minutes[this.minutes.length - 1];
    if (!last || last.at < start) {
      last = { at: start, done: 0, failed: 0 };
      this.minutes.push(last);
      while (this.minutes.length > MINUTES) this.minutes.shift();
    }
    return last;
  }

  record(o: JobOutcome): void {
    const t = this.tube(o.tube);
    const m = this.minute(this.now());
    if (o.outcome === "done") {
      t.done++;
      m.done++;
    } else {
      t.failed++;
      m.failed++;
      if (o.outcome === "retried") t.retried++;
      else if (o.outcome === "buried" || o.outcome === "invalid") t.buried++;
    }
    const secs = o.ms / 1000;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) if (secs <= DURATION_BUCKETS[i]!) t.buckets[i]!++;
    t.buckets[DURATION_BUCKETS.length]!++;
    t.durationSum += secs;
    t.durationCount++;
    for (const fn of this.listeners) fn(o);
  }

  workerRestarted(tube: string): void {
    this.tube(tube).workerRestarts++;
  }

  scheduleTicked(tube: string, missed: boolean): void {
    const t = this.tube(tube);
    if (missed) t.scheduleMisses++;
    else t.scheduleTicks++;
  }

  /** Done/failed per minute for the last hour, oldest first, one entry per minute (zeros included). */
  lastHour(): MinuteBucket[] {
    const now = this.now();
    const end = now - (now % 60_000);
    const byAt = new Map(this.minutes.map((m) => [m.at, m]));
    const out: MinuteBucket[] = [];
    for (let i = MINUTES - 1; i >= 0; i--) {
      const at = end - i * 60_000;
      const m = byAt.get(at);
      out.push({ at, done: m?.done ?? 0, failed: m?.failed ?? 0 });
    }
    return out;
  }

  subscribe(fn: (o: JobOutcome) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
