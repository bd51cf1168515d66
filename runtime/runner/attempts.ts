/**
 * Attempt counting, in one place for the supervisor and the worker.
 *
 * The server counts reservations (`reserves` in stats-job), but not every
 * reservation is an attempt: a worker takes jobs in batches, and when it
 * dies (killed at the ttr, crashed) the jobs of its batch that it had not
 * started go back to ready with a reservation counted and no run. And a kick
 * (an operator bringing a buried job back) starts a fresh set of attempts.
 *
 *   attempt = reserves - reservations that were not runs - kicks * attempts
 *
 * The supervisor keeps the ledger of reservations that were not runs, per
 * tube (shared by all the tube's processes): each worker reports, with the
 * first start of each batch, the jobs it holds and has not started; when a
 * process dies without a clean shutdown, what it still held is moved to the
 * ledger, and every new process of the tube gets the ledger in its `init`.
 * A clean stop (shutdown, idle, restart) runs the batch it holds to the end,
 * so it leaves nothing held. A reserve answered in the instant a stopping
 * slot hangs up is counted by the server and never run: the slot half-closes
 * (Connection.end) so such replies still reach it, and reports their ids
 * (`notRun`); the supervisor adds them to the ledger and tells the tube's
 * live processes.
 *
 * Those messages race the server: the job is ready again the moment the
 * stopping slot's connection closes, and another process of the tube can
 * reserve it before the message reaches it (it would then count the
 * reservation that did not run, and an `attempts: 1` job would be buried as
 * exhausted without ever running). So a process that reserves a job whose
 * counters say it is a retry asks the supervisor (`ask`), which answers
 * only once no process of the tube is hanging up: from the stopping
 * process's `hangingUp` (sent before its first FIN) to its `hungUp` (sent
 * after its `notRun`, on the same ordered channel) or its exit, and from a
 * kill at the TTR to the exit. Only a crash (a death nobody announced) can
 * still leave its unstarted jobs counted once by a process that reserves
 * them before the exit is seen.
 */

/** The attempt a reservation is, from the job's counters and the ledger. */
export function attemptOf(reserves: number, kicks: number, notRun: number, attempts: number): number {
  return Math.max(1, reserves - notRun - kicks * attempts);
}

/** Most entries kept per tube (the oldest go first): a bound on memory, not a correctness limit. */
const CAP = 50_000;

/** One tube's ledger: jobs held unstarted by its processes, and reservations that were not runs. */
export class AttemptLedger {
  /** Per process (pid), per slot: jobs reserved in the current batch and not started. */
  private readonly held = new Map<number, Map<number, Set<number>>>();
  /** Job id -> reservations that were not runs. */
  private readonly notRun = new Map<number, number>();
  /** Processes hanging up (or killed) whose jobs may be ready again before the ledger knows. */
  private readonly hanging = new Set<number>();
  private questions: { id: number; answer(n: number): void }[] = [];

  /** A slot of process `pid` started job `id`; `heldIds`, when given, replaces what the slot holds. */
  started(pid: number, slot: number, id: number, heldIds?: readonly number[]): void {
    let slots = this.held.get(pid);
    if (!slots) this.held.set(pid, (slots = new Map()));
    if (heldIds) slots.set(slot, new Set(heldIds));
    slots.get(slot)?.delete(id);
  }

  /** Process `pid` ended. `dirty`: it died holding jobs (crash, kill), so their reservations were not runs (returned). */
  exited(pid: number, dirty: boolean): [number, number][] {
    const slots = this.held.get(pid);
    this.held.delete(pid);
    const out = slots && dirty ? [...slots.values()].flatMap((ids) => this.reservedNotRun([...ids])) : [];
    this.hungUp(pid);
    return out;
  }

  /** Reservations of these jobs were not runs (a stopping slot hung up on them); returns their new entries. */
  reservedNotRun(ids: readonly number[]): [number, number][] {
    const out: [number, number][] = [];
    for (const id of ids) {
      const n = (this.notRun.get(id) ?? 0) + 1;
      this.notRun.delete(id); // re-insert: most recent last
      this.notRun.set(id, n);
      out.push([id, n]);
    }
    while (this.notRun.size > CAP) this.notRun.delete(this.notRun.keys().next().value!);
    return out;
  }

  /** What a new process of the tube is told in its init. */
  entries(): [number, number][] {
    return [...this.notRun];
  }

  /** Process `pid` is about to hang up on its reserves (or be killed). */
  hangingUp(pid: number): void {
    this.hanging.add(pid);
  }

  /** Process `pid` has reported every reservation its hang-up left unrun (or it exited). */
  hungUp(pid: number): void {
    if (!this.hanging.delete(pid) || this.hanging.size > 0) return;
    const qs = this.questions;
    this.questions = [];
    for (const q of qs) q.answer(this.notRun.get(q.id) ?? 0);
  }

  /** Job `id`'s reservations that were not runs, answered once no process of the tube is hanging up. */
  ask(id: number, answer: (n: number) => void): void {
    if (this.hanging.size === 0) answer(this.notRun.get(id) ?? 0);
    else this.questions.push({ id, answer });
  }
}

/** The worker's side: the ledger it was given, read per job. */
export class NotRunCounts {
  private readonly counts = new Map<number, number>();

  /** The init's ledger, and later additions (the supervisor's `notRun` messages). */
  load(entries: readonly [number, number][]): void {
    for (const [id, n] of entries) this.counts.set(id, n);
  }

  of(id: number): number {
    return this.counts.get(id) ?? 0;
  }
}
