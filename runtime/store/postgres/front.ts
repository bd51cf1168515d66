/**
 * One front end's link to the shared queue: its connection pool, its group
 * commit, its lease, its LISTEN connection and its sweeper.
 *
 * - Wake-ups (wakeups.ts): a batch that makes jobs ready pokes this front
 *   end's waiting reserves and NOTIFYs channel `beanrun` with what they do
 *   not cover; every front end LISTENs and retries the reserves waiting on
 *   those tubes. That is the main path; a slow safety net (WAIT_RECHECK_MS)
 *   retries waiting reserves in case a notification was lost.
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
import { GroupCommit, LANE_PIPELINE, type Step } from "./group-commit.ts";
import { migrate } from "./migrations.ts";
import { Wakeups } from "./wakeups.ts";

export const LEASE_MS = 10_000;
const SWEEP_MAX_MS = 1000;
/**
 * Transactions in flight at once per front end (BEANRUN_PG_LANES, default 8).
 * With clients that wait for each reply, throughput is clients / latency, and
 * more lanes cut the time a command waits for a transaction to start.
 */
const LANES = Math.max(1, Number(process.env.BEANRUN_PG_LANES) || 8);
/**
 * BEANRUN_PG_HOLD_MS (default 1, 0 never): a batch of fewer than 8 commands
 * waits this long for more while another of this front end's batches is in
 * flight (fewer, fuller batches; see GroupCommit).
 */
const HOLD_MS = Math.max(0, Number(process.env.BEANRUN_PG_HOLD_MS ?? 1) || 0);
/**
 * BEANRUN_PG_SYNC_RESERVE=1: reservations wait for the WAL flush like
 * everything else (see GroupCommit.run and the README, "Replies after commit").
 */
const RELAXED = process.env.BEANRUN_PG_SYNC_RESERVE !== "1";

export interface FrontOptions {
  url: string;
  /** Apply missing migrations on start (default true). */
  migrate?: boolean;
  log?: (line: string) => void;
}

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
  /** Lease, registration, migrations, notifications: a small pool beside the lanes. */
  readonly sql: Sql;
  private listenSql: Sql;
  readonly commit: GroupCommit;
  id = 0;
  readonly wakeups: Wakeups;
  /** Called after this front end registered again under a new id. */
  reregistered: (() => void) | undefined;
  private sweepTimer: ReturnType<typeof setTimeout> | undefined;
  private leaseTimer: ReturnType<typeof setInterval> | undefined;
  private sweeping = false;
  private stopped = false;
  private readonly log: (line: string) => void;

  private constructor(readonly opts: FrontOptions) {
    this.log = opts.log ?? ((l) => console.error(l));
    const common = { onnotice: () => {}, connect_timeout: 10, idle_timeout: 0, max_lifetime: null } as const;
    // Generic plans for the prepared statements: PostgreSQL's default re-plans a statement with
    // array parameters (reserve's watched tubes) at every execution, which was ~40% of the
    // database's CPU per job; every hot statement is an index lookup whatever its parameters.
    const generic = { plan_cache_mode: "force_generic_plan" };
    this.sql = postgres(opts.url, { ...common, max: 2, connection: generic });
    // The group commit's connections, one per lane. max_pipeline is a postgres.js option its typings
    // leave out (default 100 queries in flight per connection).
    const lane = { ...common, max: 1, max_pipeline: LANE_PIPELINE, connection: generic };
    this.listenSql = postgres(opts.url, { ...common, max: 1 });
    this.wakeups = new Wakeups(
      this.sql,
      () => this.id,
      this.log,
      LEASE_MS,
      (step, key, durable) => this.run(step, key, durable),
    );
    this.commit = new GroupCommit(() => postgres(opts.url, lane), LANES, {
      holdMs: HOLD_MS,
      relaxed: RELAXED,
      counterShard: (lane) => this.id * 16 + lane,
      afterCommit: (tx, woken) => this.wakeups.afterCommit(tx, woken),
      committed: (woken, sent) => {
        if (woken.size) this.wakeups.announce(woken, sent);
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
        (payload) => f.wakeups.heard(payload),
        () => void f.wakeups.hello(),
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

  private async renew(): Promise<void> {
    try {
      const rows = await this.sql`update beanrun_frontends set lease_until = beanrun_now() + ${LEASE_MS} where id = ${this.id}
        returning id, (select count(*) from beanrun_frontends where id <> ${this.id} and lease_until > beanrun_now())::int as peers`;
      if (rows.length) this.wakeups.counted(rows[0]!.peers as number);
      if (!rows.length && !this.stopped) {
        this.log(
          `beanrun: lease of front end ${this.id} ran out (stalled or cut off); its reservations were given back; registering again`,
        );
        await this.register();
        this.reregistered?.();
        // The old id's rows of beanrun_waiting went with it.
        this.wakeups.forgetWaiting();
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
    this.wakeups.stopped = true;
    clearTimeout(this.sweepTimer);
    clearInterval(this.leaseTimer);
    if (this.id) {
      // Leaving cleanly: our connections' reservations were already given back; drop the lease row.
      await this.sql`delete from beanrun_frontends where id = ${this.id}`.catch(() => {});
    }
    await Promise.all([this.sql.end({ timeout: 2 }), this.listenSql.end({ timeout: 2 }), this.commit.end(2)]);
  }
}
