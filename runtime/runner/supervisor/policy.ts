/**
 * Which tubes get worker processes: a pure function of what the supervisor
 * knows, so the rules are tested directly.
 *
 * - A tube wants its first process when it has ready jobs (or `min` says so),
 *   and one more, up to `max`, while its backlog is larger than what its
 *   processes hold (processes x concurrency) and none of them is still
 *   starting.
 * - The machine-wide cap bounds the sum. Under it, tubes with the fewest
 *   processes go first, then the one that has waited longest: a flood on
 *   one tube never keeps another at zero while it holds two or more.
 * - When a tube with no process waits at the cap, one process is asked to
 *   yield (a graceful stop): the tube holding the most processes gives one
 *   up at once; if every tube holds one, the process that has run longest
 *   gives way after `quantumMs`, so no tube waits forever.
 */

export interface TubeView {
  tube: string;
  /** Processes alive or starting. */
  procs: number;
  /** Of those, not ready yet. */
  starting: number;
  min: number;
  max: number;
  concurrency: number;
  /** Ready jobs now. */
  backlog: number;
  /** No process may start: its module failed, or it is in crash backoff. */
  blocked: boolean;
  /** When it started waiting for the cap (ms), or null. */
  waitingSince: number | null;
  /** When its longest-running process started (ms), or null with none. */
  oldestStart: number | null;
}

export interface Plan {
  /** Tubes to give one more process now, in order. */
  start: string[];
  /** Tubes that want a process and must wait for the cap. */
  waiting: string[];
  /** A tube that should give one process up for a waiting one, or null. */
  yieldFrom: string | null;
}

export function wantsMore(t: TubeView): boolean {
  if (t.blocked) return false;
  if (t.procs < t.min) return true;
  if (t.procs === 0) return t.backlog > 0;
  if (t.procs >= t.max || t.starting > 0) return false;
  return t.backlog > t.procs * t.concurrency;
}

/** `yielding`: a process is already giving its place up (ask for one at a time). */
export function plan(tubes: readonly TubeView[], cap: number, now: number, quantumMs: number, yielding: boolean): Plan {
  let free = cap;
  for (const t of tubes) free -= t.procs;
  const wanting = tubes
    .filter(wantsMore)
    .sort((a, b) => a.procs - b.procs || (a.waitingSince ?? now) - (b.waitingSince ?? now) || (a.tube < b.tube ? -1 : 1));
  const start: string[] = [];
  const waiting: string[] = [];
  for (const t of wanting) {
    if (free > 0) {
      start.push(t.tube);
      free--;
    } else waiting.push(t.tube);
  }
  let yieldFrom: string | null = null;
  const starved = wanting.find((t) => t.procs === 0 && waiting.includes(t.tube));
  if (starved && !yielding) {
    const holders = tubes.filter((t) => t.procs > t.min && t.procs > t.starting && t.oldestStart !== null);
    const most = holders.reduce<TubeView | null>((m, t) => (m === null || t.procs > m.procs ? t : m), null);
    if (most && most.procs > 1) yieldFrom = most.tube;
    else if (now - (starved.waitingSince ?? now) >= quantumMs) {
      const oldest = holders.reduce<TubeView | null>((m, t) => (m === null || t.oldestStart! < m.oldestStart! ? t : m), null);
      if (oldest && now - oldest.oldestStart! >= quantumMs) yieldFrom = oldest.tube;
    }
  }
  return { start, waiting, yieldFrom };
}
