/**
 * Wake-ups between front ends: which waiting reserves to poke when jobs
 * become ready, and when to tell the other front ends (NOTIFY on channel
 * `beanrun`, payload "<front>:<count>:<tube>", count -1 for unknown, no tube
 * for "a front end started").
 *
 * The rules, and why:
 * - This front end's idle waiters are poked first; only the jobs no local
 *   waiter was poked for are announced to the others. A waiter that then
 *   takes a different job leaves this one ready, and its reserve reports that
 *   more jobs are ready, which announces again (Session.attempt).
 * - Only front ends that wait are notified. A front end whose reserve on a
 *   tube found nothing has a row (tube, front) in beanrun_waiting before
 *   that reserve tries once more and waits (`waitingOn`); the notification
 *   is a statement that sends only for tubes some other front end has a row
 *   for. Every NOTIFY wakes every listening backend of the database and costs
 *   each a transaction, so under a backlog (every reserve finds a job, nobody
 *   waits) none is sent at all. No wake-up is missed: the statement runs
 *   after the commit that made the jobs ready, so either it sees the waiter's
 *   row, or the row was committed after those jobs and the waiter's retry
 *   sees them. A reserve that leaves more jobs ready reads the rows in its
 *   own statement (`hungry`), by the same argument. A front end told about a
 *   tube none of its reserves waits on any more drops its row (`heard`).
 * - Never inside a durable batch's transaction: PostgreSQL takes a
 *   database-wide lock when a transaction that notified commits and holds it
 *   until the commit record is flushed, so notifying batches could not share a
 *   WAL flush. A notification is its own statement whose commit does not wait
 *   for the flush (it changes nothing durable): either pipelined on the
 *   batch's connection right after its COMMIT (puts: the tubes are known
 *   before the results, so the notification reaches PostgreSQL without a
 *   round trip back to this process), or sent after the commit by this front
 *   end, at most one in flight, later wakes merged into the next.
 * - Alone on the database, a front end sends none: nobody would hear them. It
 *   counts its live peers at each lease renewal, and a front end that starts
 *   or re-LISTENs says so on the channel, so the others start at once.
 * - A front end that dies between a commit and its notification leaves the
 *   other front ends' waiters to their WAIT_RECHECK_MS safety net. After a
 *   reconnect of the LISTEN connection (the database may have restarted and
 *   lost rows of beanrun_waiting, which are written without waiting for the
 *   flush), every waiter tries again and writes its rows anew.
 */
import type { Sql } from "postgres";
import type { Step, Tx } from "./group-commit.ts";

/**
 * Told that jobs became ready in these tubes (how many; Infinity: unknown),
 * it returns per tube how many jobs no idle local waiter covers; with `poke`
 * it also pokes the waiters it counted.
 */
export type WakeHandler = (tubes: ReadonlyMap<string, number>, poke: boolean) => ReadonlyMap<string, number>;

/** How long a notification sent after a commit may stay unanswered before the next one goes anyway. */
const NOTIFY_GIVE_UP_MS = 5000;

const NOTIFY = `select set_config('synchronous_commit', 'off', true), pg_notify('beanrun', $2 || n || ':' || t)
  from unnest($1::text[], $3::int[]) as u(t, n)
  where exists (select 1 from beanrun_waiting w where w.tube = u.t and w.front <> $4)`;

/** Records (or drops) this front end's rows in beanrun_waiting. */
function waitingRows(front: number, tubes: string[], on: boolean): Step<void> {
  return async (tx) => {
    await tx.unsafe(
      on
        ? `insert into beanrun_waiting (tube, front) select unnest($2::text[]), $1
           where exists (select 1 from beanrun_frontends where id = $1) on conflict do nothing`
        : "delete from beanrun_waiting where front = $1 and tube = any($2::text[])",
      [front, tubes] as never[],
      { prepare: true },
    );
  };
}

/** Runs a step in this front end's group commit (Front.run). */
export type RunStep = <T>(step: Step<T>, key: object, durable: boolean) => Promise<T>;

/** A row of beanrun_waiting: on its way (the insert's commit) or committed. */
interface WaitRow {
  committed: boolean;
  commit: Promise<void>;
}

export class Wakeups {
  private handler: WakeHandler = (tubes) => tubes;
  /** Other live front ends, as last counted or heard from. */
  private peers = 1;
  private heardAt = 0;
  /** Tubes woken while a notification was in flight: sent together next. */
  private unsent = new Map<string, number>();
  private notifying = false;
  /** This front end's rows of beanrun_waiting, by tube. */
  private readonly waiting = new Map<string, WaitRow>();
  /** Their inserts and deletes run in order (one group-commit key). */
  private readonly waitKey = {};
  /** Every waiter should try again (the rows may be gone): set by Front to poke all waiting sessions. */
  retryAll: () => void = () => {};
  stopped = false;

  constructor(
    private readonly sql: Sql,
    private readonly me: () => number,
    private readonly log: (line: string) => void,
    private readonly quietMs: number,
    private readonly run: RunStep,
  ) {}

  onWake(fn: WakeHandler): void {
    this.handler = fn;
  }

  /**
   * Jobs became ready here (after a commit, or a reserve that left more):
   * poke local waiters, announce the rest (unless `others` is false: no other
   * front end waits on these tubes, as the reserve that left them read).
   */
  announce(tubes: ReadonlyMap<string, number>, alreadySent?: ReadonlySet<string>, others = true): void {
    const rest = this.handler(tubes, true);
    if (!others) return;
    for (const [t, n] of rest) if (!alreadySent?.has(t)) this.unsent.set(t, (this.unsent.get(t) ?? 0) + n);
    this.flush();
  }

  /**
   * A reserve on `tubes` found nothing and is about to wait. Returns null when
   * this front end's rows for all of them are committed (other front ends
   * notify it about new jobs), else a promise that resolves once they are:
   * the reserve must then try again, since a job committed before the row
   * may have been announced to nobody.
   */
  waitingOn(tubes: readonly string[]): Promise<unknown> | null {
    const missing = tubes.filter((t) => !this.waiting.has(t));
    if (missing.length) {
      const row: WaitRow = { committed: false, commit: Promise.resolve() };
      row.commit = this.run(waitingRows(this.me(), missing, true), this.waitKey, false).then(
        () => void (row.committed = true),
        (e: unknown) => {
          for (const t of missing) if (this.waiting.get(t) === row) this.waiting.delete(t);
          if (!this.stopped) this.log(`beanrun: cannot record waiting reserves: ${(e as Error).message}`);
        },
      );
      for (const t of missing) this.waiting.set(t, row);
    }
    const pending = tubes.map((t) => this.waiting.get(t)).filter((r) => r && !r.committed);
    return pending.length ? Promise.all(pending.map((r) => r!.commit)) : null;
  }

  /** No reserve of this front end waits on `tube` any more: other front ends need not notify it. */
  private sated(tube: string): void {
    if (!this.waiting.get(tube)?.committed) return;
    this.waiting.delete(tube);
    this.run(waitingRows(this.me(), [tube], false), this.waitKey, false).catch((e: unknown) => {
      if (!this.stopped) this.log(`beanrun: cannot drop waiting reserves: ${(e as Error).message}`);
    });
  }

  /** The rows may be gone (a new front-end id, a database restart): forget them, and every waiter tries again. */
  forgetWaiting(): void {
    this.waiting.clear();
    this.retryAll();
  }

  /**
   * For a batch whose COMMIT was just sent: pipelines the notification of the
   * wakes already known (puts) on its connection, and returns the tubes it
   * covers (undefined: nothing sent). Local waiters are counted, not poked:
   * they are poked when the commit's result is in.
   */
  afterCommit(tx: Tx, woken: ReadonlyMap<string, number>): { sent: Set<string>; done: Promise<unknown> } | undefined {
    if (!this.peers || this.stopped || !woken.size) return undefined;
    const rest = this.handler(woken, false);
    if (!rest.size) return undefined;
    return { sent: new Set(rest.keys()), done: this.send(tx, rest) };
  }

  private flush(): void {
    if (!this.peers) this.unsent.clear();
    if (this.notifying || this.stopped || !this.unsent.size) return;
    this.notifying = true;
    const tubes = this.unsent;
    this.unsent = new Map();
    // postgres.js can lose a query sent between a connection's error and its close (see GroupCommit):
    // never wait for one notification forever, or this front end would notify nobody again.
    let giveUp: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise((r) => (giveUp = setTimeout(r, NOTIFY_GIVE_UP_MS)));
    void Promise.race([this.send(this.sql, tubes), late]).finally(() => {
      clearTimeout(giveUp);
      this.notifying = false;
      this.flush();
    });
  }

  private send(tx: Pick<Tx, "unsafe">, woken: ReadonlyMap<string, number>): Promise<unknown> {
    const tubes = [...woken.keys()].sort();
    const counts = tubes.map((t) => (Number.isFinite(woken.get(t)) ? woken.get(t)! : -1));
    return tx.unsafe(NOTIFY, [tubes, `${this.me()}:`, counts, this.me()] as never[], { prepare: true }).catch((e: unknown) => {
      if (!this.stopped) this.log(`beanrun: NOTIFY failed: ${(e as Error).message}`);
    });
  }

  /** A notification from the channel. */
  heard(payload: string): void {
    const [from, n, tube] = payload.split(":", 3) as [string, string, string];
    if (from === String(this.me())) return;
    this.heardAt = Date.now();
    this.peers = Math.max(this.peers, 1);
    if (!tube) return;
    const count = Number(n) < 0 ? Infinity : Number(n);
    // Nobody here was poked: no reserve of ours waits on the tube idly (one in flight retries anyway).
    if (this.handler(new Map([[tube, count]]), true).get(tube) === count && count !== Infinity) this.sated(tube);
  }

  /** A count of live peers from the database; one heard from lately counts even if it registered after the count. */
  counted(n: number): void {
    this.peers = Date.now() - this.heardAt < this.quietMs ? Math.max(n, 1) : n;
  }

  /** Says on the channel that this front end listens (again), and counts its peers; waiters record their rows anew. */
  async hello(): Promise<void> {
    this.forgetWaiting();
    try {
      const me = this.me();
      const [r] = await this.sql`select pg_notify('beanrun', ${`${me}:0:`}),
        (select count(*) from beanrun_frontends where id <> ${me} and lease_until > beanrun_now())::int as peers`;
      this.counted(r!.peers as number);
    } catch (e) {
      if (!this.stopped) this.log(`beanrun: cannot announce front end ${this.me()}: ${(e as Error).message}`);
    }
  }
}
