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
 *   other front ends' waiters to their WAIT_RECHECK_MS safety net.
 */
import type { Sql } from "postgres";
import type { Tx } from "./group-commit.ts";

/**
 * Told that jobs became ready in these tubes (how many; Infinity: unknown),
 * it returns per tube how many jobs no idle local waiter covers; with `poke`
 * it also pokes the waiters it counted.
 */
export type WakeHandler = (tubes: ReadonlyMap<string, number>, poke: boolean) => ReadonlyMap<string, number>;

const NOTIFY = `select set_config('synchronous_commit', 'off', true), pg_notify('beanrun', $2 || n || ':' || t)
  from unnest($1::text[], $3::int[]) as u(t, n)`;

export class Wakeups {
  private handler: WakeHandler = (tubes) => tubes;
  /** Other live front ends, as last counted or heard from. */
  private peers = 1;
  private heardAt = 0;
  /** Tubes woken while a notification was in flight: sent together next. */
  private unsent = new Map<string, number>();
  private notifying = false;
  stopped = false;

  constructor(
    private readonly sql: Sql,
    private readonly me: () => number,
    private readonly log: (line: string) => void,
    private readonly quietMs: number,
  ) {}

  onWake(fn: WakeHandler): void {
    this.handler = fn;
  }

  /** Jobs became ready here (after a commit, or a reserve that left more): poke local waiters, announce the rest. */
  announce(tubes: ReadonlyMap<string, number>, alreadySent?: ReadonlySet<string>): void {
    const rest = this.handler(tubes, true);
    for (const [t, n] of rest) if (!alreadySent?.has(t)) this.unsent.set(t, (this.unsent.get(t) ?? 0) + n);
    this.flush();
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
    this.send(this.sql, tubes).finally(() => {
      this.notifying = false;
      this.flush();
    });
  }

  private send(tx: Pick<Tx, "unsafe">, woken: ReadonlyMap<string, number>): Promise<unknown> {
    const tubes = [...woken.keys()].sort();
    const counts = tubes.map((t) => (Number.isFinite(woken.get(t)) ? woken.get(t)! : -1));
    return tx.unsafe(NOTIFY, [tubes, `${this.me()}:`, counts] as never[], { prepare: true }).catch((e: unknown) => {
      if (!this.stopped) this.log(`beanrun: NOTIFY failed: ${(e as Error).message}`);
    });
  }

  /** A notification from the channel. */
  heard(payload: string): void {
    const [from, n, tube] = payload.split(":", 3) as [string, string, string];
    if (from === String(this.me())) return;
    this.heardAt = Date.now();
    this.peers = Math.max(this.peers, 1);
    if (tube) this.handler(new Map([[tube, Number(n) < 0 ? Infinity : Number(n)]]), true);
  }

  /** A count of live peers from the database; one heard from lately counts even if it registered after the count. */
  counted(n: number): void {
    this.peers = Date.now() - this.heardAt < this.quietMs ? Math.max(n, 1) : n;
  }

  /** Says on the channel that this front end listens, and counts its peers. */
  async hello(): Promise<void> {
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
