/**
 * One front end's link to the shared queue: its connection pool, its group
 * commit, its lease, its LISTEN connection and its sweeper.
 *
 * - Wake-ups: every batch that makes jobs ready NOTIFYs channel `beanrun`
 *   with the tube names on commit; every front end LISTENs and retries the
 *   reserves waiting on those tubes. That is the main path; a slow safety net
 *   (WAIT_RECHECK_MS) retries waiting reserves in case a notification was lost
 *   while the LISTEN connection was reconnecting.
 * - Sweeping: delayed jobs whose time came become ready, reservations past
 *   their TTR come back (counted as timeouts), ended pauses wake their tube.
 *   Every front end sweeps when the next such event is due (read from the
 *   partial indexes after each sweep), and at least once a second so events
 *   created by a front end that died are not missed. The statements are
 *   idempotent, so several front ends sweeping at once do no harm.
 * - Leases: a front end renews its row in beanrun_frontends every LEASE_MS/4;
 *   the sweep of any front end deletes rows whose lease ran out and gives
 *   their reservations back (sooner than their TTR). A front end that finds
 *   its own row gone (it stalled past its lease) registers again under a new
 *   id: its old reservations were already given back.
 */

import * as os from "node:os";
import process from "node:process";
import postgres, { type Sql } from "postgres";
import { GroupCommit, type Step } from "./group-commit.ts";
import { migrate } from "./migrations.ts";

export const LEASE_MS = 10_000;
const SWEEP_MAX_MS = 1000;
/**
 * Transactions in flight at once per front end (BEANRUN_PG_LANES, default 8).
 * With clients that wait for each reply, throughput is clients / latency, and
 * more lanes cut the time a command waits for a transaction to start.
 */
const LANES = Math.max(1, Number(process.env.BEANRUN_PG_LANES) || 8);

export interface FrontOptions {
  url: string;
  /** Apply missing migrations on start (default true). */
  migrate?: boolean;
  log?: (line: string) => void;
}

/**
 * Told that jobs became ready in these tubes (how many; Infinity: unknown),
 * it pokes this front end's idle waiting reserves and returns, per tube, how
 * many jobs no local waiter was poked for.
 */
export type WakeHandler = (tubes: ReadonlyMap<string, number>) => ReadonlyMap<string, number>;

export class UnreachableError extends Error {}

/** "host:port" of a postgres:// URL, for error messages (never the password). */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || "localhost"}:${u.port || 5432}${u.pathname && u.pathname !== "/" ? u.pathname : ""}`;
  } catch {
    return "(unparsable URL)";
  }
}

export class Front {
  readonly sql: Sql;
  private listenSql: Sql;
  readonly commit: GroupCommit;
  id = 0;
  private wakeHandler: WakeHandler = (tubes) => tubes;
  private sweepTimer: ReturnType<typeof setTimeout> | undefined;
  private leaseTimer: ReturnType<typeof setInterval> | undefined;
  private sweeping = false;
  private stopped = false;
  private readonly log: (line: string) => void;

  private constructor(readonly opts: FrontOptions) {
    this.log = opts.log ?? ((l) => console.error(l));
    const common = { onnotice: () => {}, connect_timeout: 10, idle_timeout: 0, max_lifetime: null } as const;
    this.sql = postgres(opts.url, { ...common, max: LANES + 2 });
    this.listenSql = postgres(opts.url, { ...common, max: 1 });
    this.commit = new GroupCommit(this.sql, {
      lanes: LANES,
      counterShard: (lane) => this.id * 16 + lane,
      committed: (woken) => {
        if (woken.size) this.announce(woken);
      },
    });
  }

  static async open(opts: FrontOptions): Promise<Front> {
    const f = new Front(opts);
    try {
      await f.sql`select 1`;
    } catch (e) {
      await f.close();
      const reason = (e as Error).message ?? String(e);
      throw new UnreachableError(`cannot reach PostgreSQL at ${describeUrl(opts.url)}: ${reason}`);
    }
    try {
      if (opts.migrate !== false) await migrate(f.sql);
      await f.register();
      await f.listenSql.listen(
        "beanrun",
        (payload) => f.heard(payload),
        () => void f.hello(),
      );
    } catch (e) {
      await f.close();
      throw e;
    }
    f.leaseTimer = setInterval(() => void f.renew(), LEASE_MS / 4);
    f.scheduleSweep(0);
    return f;
  }

  /** Runs a step in the next batch; steps of one `key` (a connection) run in order (see GroupCommit.run for `durable`). */
  run<T>(step: Step<T>, key?: object, durable = true): Promise<T> {
    return this.commit.run(step, key, durable);
  }

  onWake(fn: WakeHandler): void {
    this.wakeHandler = fn;
  }

  /**
   * Jobs became ready in these tubes (a commit of this front end, or a
   * reserve that left more behind): this front end's idle waiters are poked
   * first, and only the jobs they do not cover are announced to the other
   * front ends. A waiter that then takes a different job leaves this one
   * ready, and its reserve reports that more are ready, which announces again.
   */
  announce(tubes: ReadonlyMap<string, number>): void {
    const rest = this.wakeHandler(tubes);
    if (rest.size) this.notify(rest);
  }

  /** Tubes woken by commits while a notification was in flight: sent together next. */
  private unsent = new Map<string, number>();
  private notifying = false;

  /**
   * Tells the other front ends which tubes got ready jobs, after the commit
   * that made them ready. Not inside the batch's transaction: PostgreSQL
   * takes a database-wide lock when a transaction that notified commits and
   * holds it until its commit record is flushed, so notifying batches could
   * not share a WAL flush (group commit would stop at the notify lock). Here
   * the notification is its own statement whose commit does not wait for the
   * flush (it changes nothing durable), and at most one is in flight: wakes
   * of commits in the meantime are merged into the next. A front end that
   * dies between a commit and its notification leaves the other front ends'
   * waiters to their WAIT_RECHECK_MS safety net.
   */
  private notify(woken: ReadonlyMap<string, number>): void {
    if (!this.peers) return;
    for (const [t, n] of woken) this.unsent.set(t, (this.unsent.get(t) ?? 0) + n);
    if (this.notifying || this.stopped) return;
    this.notifying = true;
    const tubes = [...this.unsent.keys()].sort();
    // Payload "<front>:<count>:<tube>" (tube names cannot hold ':'); count -1 means unknown.
    const counts = tubes.map((t) => (Number.isFinite(this.unsent.get(t)) ? this.unsent.get(t)! : -1));
    this.unsent.clear();
    this.sql
      .unsafe(
        `select set_config('synchronous_commit', 'off', true), pg_notify('beanrun', $2 || n || ':' || t)
         from unnest($1::text[], $3::int[]) as u(t, n)`,
        [tubes, `${this.id}:`, counts] as never[],
        { prepare: true },
      )
      .catch((e) => {
        if (!this.stopped) this.log(`beanrun: NOTIFY failed: ${(e as Error).message}`);
      })
      .finally(() => {
        this.notifying = false;
        if (this.unsent.size) this.notify(new Map());
      });
  }

  /** A local event (a delayed put, a reservation, a pause) falls due in `ms`: sweep then. */
  dueIn(ms: number): void {
    this.scheduleSweep(Math.max(0, ms));
  }

  private nextSweepAt = Infinity;

  private scheduleSweep(ms: number): void {
    if (this.stopped) return;
    const at = Date.now() + Math.min(ms, SWEEP_MAX_MS);
    if (this.sweepTimer !== undefined && at >= this.nextSweepAt) return;
    clearTimeout(this.sweepTimer);
    this.nextSweepAt = at;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      this.nextSweepAt = Infinity;
      void this.sweep();
    }, at - Date.now());
  }

  private async register(): Promise<void> {
    const [r] = await this.sql`insert into beanrun_frontends (host, pid, started, lease_until)
      values (${os.hostname()}, ${process.pid}, beanrun_now(), beanrun_now() + ${LEASE_MS}) returning id`;
    this.id = r!.id as number;
  }

  /**
   * Other live front ends, as last counted (a lease renewal, or a notification
   * from one). Alone, a front end sends no notifications: nobody would hear
   * them. A front end that starts (or re-LISTENs after a reconnect) says so
   * on the channel, so the others start notifying at once.
   */
  private peers = 1;
  private heardAt = 0;

  /** A count of live peers from the database; one heard from lately counts even if it registered after the count. */
  private counted(n: number): void {
    this.peers = Date.now() - this.heardAt < LEASE_MS ? Math.max(n, 1) : n;
  }

  private async hello(): Promise<void> {
    try {
      const [r] = await this.sql`select pg_notify('beanrun', ${`${this.id}:0:`}),
        (select count(*) from beanrun_frontends where id <> ${this.id} and lease_until > beanrun_now())::int as peers`;
      this.counted(r!.peers as number);
    } catch (e) {
      if (!this.stopped) this.log(`beanrun: cannot announce front end ${this.id}: ${(e as Error).message}`);
    }
  }

  /** A notification "<front>:<count>:<tube>" (count -1: unknown; no tube: a front end started). */
  private heard(payload: string): void {
    const [from, n, tube] = payload.split(":", 3) as [string, string, string];
    if (from === String(this.id)) return;
    this.heardAt = Date.now();
    this.peers = Math.max(this.peers, 1);
    if (tube) this.wakeHandler(new Map([[tube, Number(n) < 0 ? Infinity : Number(n)]]));
  }

  private async renew(): Promise<void> {
    try {
      const rows = await this.sql`update beanrun_frontends set lease_until = beanrun_now() + ${LEASE_MS} where id = ${this.id}
        returning id, (select count(*) from beanrun_frontends where id <> ${this.id} and lease_until > beanrun_now())::int as peers`;
      if (rows.length) this.counted(rows[0]!.peers as number);
      if (!rows.length && !this.stopped) {
        this.log(
          `beanrun: lease of front end ${this.id} ran out (stalled or cut off); its reservations were given back; registering again`,
        );
        await this.register();
      }
    } catch (e) {
      this.log(`beanrun: cannot renew front-end lease: ${(e as Error).message}`);
    }
  }

  /** Promotes due delayed jobs, expires TTRs and dead front ends' reservations, ends pauses. */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.stopped) return;
    this.sweeping = true;
    let next = SWEEP_MAX_MS;
    try {
      next = await this.run(
        async (tx, b) => {
          const [changed, due] = await Promise.all([
            tx.unsafe(
              `with dead as (delete from beanrun_frontends where lease_until < beanrun_now() returning id),
             p as (update beanrun_jobs set state = 1 where state = 4 and ready_at <= beanrun_now() returning tube),
             e as (update beanrun_jobs set state = 1, timeouts = timeouts + 1, front = 0, conn = 0, deadline = 0
                   where state = 2 and deadline <= beanrun_now() returning tube),
             d as (update beanrun_jobs set state = 1, front = 0, conn = 0, deadline = 0
                   where state = 2 and deadline > beanrun_now() and front in (select id from dead) returning tube),
             u as (update beanrun_tubes set pause_until = 0 where pause_until > 0 and pause_until <= beanrun_now() returning name as tube),
             c as (insert into beanrun_tube_counts as c (tube, front, timeouts) select tube, $1, count(*) from e group by tube
                   on conflict (tube, front) do update set timeouts = c.timeouts + excluded.timeouts)
             select tube, 1 as n from p union all select tube, 1 from e union all select tube, 1 from d
             union all select tube, -1 from u`,
              [b.shard] as never[],
            ),
            tx.unsafe(
              `select (least((select min(ready_at) from beanrun_jobs where state = 4),
                           (select min(deadline) from beanrun_jobs where state = 2),
                           (select min(pause_until) from beanrun_tubes where pause_until > 0)) - beanrun_now())::float8 as ms`,
            ),
          ]);
          // A pause that ended may have left any number of jobs waiting (-1).
          for (const r of changed) b.wake(r.tube, r.n < 0 ? Infinity : 1);
          const ms = due[0]?.ms as number | null;
          return ms === null ? SWEEP_MAX_MS : ms;
        },
        undefined,
        false,
      );
    } catch (e) {
      if (!this.stopped) this.log(`beanrun: sweep failed: ${(e as Error).message}`);
    } finally {
      this.sweeping = false;
      this.scheduleSweep(Math.max(next, 1));
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.sweepTimer);
    clearInterval(this.leaseTimer);
    if (this.id) {
      // Leaving cleanly: our connections' reservations were already given back; drop the lease row.
      await this.sql`delete from beanrun_frontends where id = ${this.id}`.catch(() => {});
    }
    await Promise.all([this.sql.end({ timeout: 2 }), this.listenSql.end({ timeout: 2 })]);
  }
}
