/**
 * Group commit: the commands of every connection of one front end that arrive
 * while a transaction is committing are gathered and run together in the next
 * one, so one commit (one WAL flush with synchronous_commit on) acknowledges
 * a whole batch. A command's promise resolves only after its transaction has
 * committed: no reply leaves before its effect is durable.
 *
 * Contract of a step: it issues its statement(s) on `tx` synchronously when
 * called (so a batch's statements are pipelined in the order the commands
 * arrived, which keeps each connection's own commands in order), and records
 * side effects that need one statement per batch (tube counters, NOTIFY of
 * tubes that got ready jobs) on the Batch instead of issuing them itself.
 *
 * Failures: a deadlock or serialization failure retries the whole batch
 * (nothing was answered yet); any other database error re-runs each step in a
 * transaction of its own so that one bad command cannot fail its neighbours;
 * a lost connection rejects every step of the batch (the caller answers
 * INTERNAL_ERROR, never a success it cannot prove).
 */
import type { ReservedSql, Sql } from "postgres";

/** The connection a batch's transaction runs on. */
export type Tx = ReservedSql;

/** Per-tube counter deltas, flushed once per batch. */
export interface TubeDelta {
  total: number;
  deletes: number;
  pauses: number;
  timeouts: number;
}

export class Batch {
  /** Tubes that got ready jobs, and how many (Infinity: unknown, e.g. a pause ended). */
  readonly woken = new Map<string, number>();

  wake(tube: string, n = 1): void {
    this.woken.set(tube, (this.woken.get(tube) ?? 0) + n);
  }
  readonly deltas = new Map<string, TubeDelta>();
  /** Tubes that must have a row in beanrun_tubes (puts). */
  readonly touched = new Set<string>();

  delta(tube: string): TubeDelta {
    let d = this.deltas.get(tube);
    if (!d) this.deltas.set(tube, (d = { total: 0, deletes: 0, pauses: 0, timeouts: 0 }));
    return d;
  }
}

export type Step<T> = (tx: Tx, batch: Batch) => Promise<T>;

interface Item {
  step: Step<unknown>;
  /** Items of one key (a connection) run in order: never two batches at once. */
  key: object | undefined;
  /** Must its commit wait for the WAL flush? False for reservations (see run()). */
  durable: boolean;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

const RETRYABLE = new Set(["40P01", "40001"]);
const MAX_BATCH = 2000;

export interface GroupCommitOptions {
  /** Transactions in flight at once (each on its own pooled connection). */
  lanes: number;
  /** Counter rows are sharded by lane: front id * 16 + lane. */
  counterShard(lane: number): number;
  /** Prefix of this front end's notifications ("<front id>:"), so it can skip its own. */
  notifyTag(): string;
  /** Called after a batch committed, with the tubes that got ready jobs. */
  committed(woken: ReadonlyMap<string, number>): void;
}

export class GroupCommit {
  private queue: Item[] = [];
  private freeLanes: number[];
  private scheduled = false;
  private busyKeys = new Map<object, number>();

  constructor(
    private readonly sql: Sql,
    private readonly opts: GroupCommitOptions,
  ) {
    this.freeLanes = Array.from({ length: opts.lanes }, (_, i) => i);
  }

  /**
   * Runs `step` in the next batch; resolves after that batch committed.
   * `durable: false` (reserve, touch, reads, the sweep) lets a batch made only
   * of such steps commit without waiting for the WAL flush
   * (synchronous_commit off for that transaction): like beanstalkd, which
   * never logs a reservation, a crash of the database may forget a
   * reservation, and the job is then ready again. Any batch with a put,
   * delete, release, bury, kick or pause waits for the flush, and that flush
   * covers every earlier commit too.
   */
  run<T>(step: Step<T>, key?: object, durable = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ step, key, durable, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || !this.freeLanes.length || !this.queue.length) return;
    this.scheduled = true;
    // Let the current event's commands (every connection's data) join first.
    setImmediate(() => {
      this.scheduled = false;
      while (this.freeLanes.length && this.queue.length) {
        const items = this.take();
        if (!items.length) return;
        const lane = this.freeLanes.pop()!;
        void this.runBatch(items, lane).finally(() => {
          for (const it of items) if (it.key) this.unbusy(it.key);
          this.freeLanes.push(lane);
          this.schedule();
        });
      }
    });
  }

  /** The next batch: queued items in order, except those of keys with a batch in flight. */
  private take(): Item[] {
    const items: Item[] = [];
    const rest: Item[] = [];
    const held = new Set<object>();
    for (const it of this.queue) {
      const k = it.key;
      if (items.length >= MAX_BATCH || (k && (held.has(k) || this.busyKeys.has(k)))) {
        rest.push(it);
        if (k) held.add(k);
      } else items.push(it);
    }
    for (const it of items) if (it.key) this.busyKeys.set(it.key, (this.busyKeys.get(it.key) ?? 0) + 1);
    this.queue = rest;
    return items;
  }

  private unbusy(key: object): void {
    const n = this.busyKeys.get(key)! - 1;
    if (n) this.busyKeys.set(key, n);
    else this.busyKeys.delete(key);
  }

  private async runBatch(items: Item[], lane: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const { values, batch } = await this.transaction(items, lane);
        for (let i = 0; i < items.length; i++) items[i]!.resolve(values[i]);
        this.opts.committed(batch.woken);
        return;
      } catch (e) {
        const code = (e as { code?: string }).code ?? "";
        if (RETRYABLE.has(code) && attempt < 3) continue;
        if (items.length > 1 && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith("08") && !code.startsWith("57")) {
          // A statement error: isolate it so the other commands still succeed.
          for (const it of items) await this.runBatch([it], lane);
          return;
        }
        for (const it of items) it.reject(e);
        return;
      }
    }
  }

  /**
   * BEGIN, every step's statement and, once their results are in, the side
   * effects and COMMIT: two round trips per batch, however many commands it
   * holds. (A COMMIT of a transaction in which something failed reports
   * ROLLBACK without an error, so nothing is committed unless every statement
   * before it succeeded, which is checked first.)
   */
  private async transaction(items: Item[], lane: number): Promise<{ values: unknown[]; batch: Batch }> {
    const batch = new Batch();
    const conn = await this.sql.reserve();
    let open = false;
    try {
      // Queries are lazy in postgres.js: execute() sends BEGIN now, ahead of the steps' statements.
      const begin = conn.unsafe("begin").execute();
      open = true;
      const relaxed = !items.some((it) => it.durable) ? conn.unsafe("set local synchronous_commit = off").execute() : undefined;
      const pending = items.map((it) => it.step(conn, batch));
      const settled = await Promise.allSettled([begin, ...pending]);
      await relaxed;
      const failed = settled.find((s) => s.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
      const effects = this.flushSideEffects(conn, batch, lane);
      const commit = conn.unsafe("commit").execute();
      await Promise.all([effects, commit]);
      open = false;
      return { values: settled.slice(1).map((s) => (s as PromiseFulfilledResult<unknown>).value), batch };
    } catch (e) {
      if (open) await conn.unsafe("rollback").catch(() => {});
      throw e;
    } finally {
      conn.release();
    }
  }

  /** One statement for the batch's tube rows and counters, one for its NOTIFYs. */
  private async flushSideEffects(tx: Tx, batch: Batch, lane: number): Promise<void> {
    const names = [...new Set([...batch.touched, ...batch.deltas.keys()])].sort();
    const shard = this.opts.counterShard(lane);
    const work: Promise<unknown>[] = [];
    if (batch.touched.size) {
      work.push(
        tx.unsafe("insert into beanrun_tubes (name) select unnest($1::text[]) on conflict do nothing", [[...batch.touched].sort()]),
      );
    }
    if (batch.deltas.size) {
      const d = names.filter((n) => batch.deltas.has(n)).map((n) => [n, batch.deltas.get(n)!] as const);
      work.push(
        tx.unsafe(
          `insert into beanrun_tube_counts as c (tube, front, total_jobs, deletes, pauses, timeouts)
             select t, $2, a, b, p, o from unnest($1::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) as u(t, a, b, p, o)
           on conflict (tube, front) do update set total_jobs = c.total_jobs + excluded.total_jobs,
             deletes = c.deletes + excluded.deletes, pauses = c.pauses + excluded.pauses, timeouts = c.timeouts + excluded.timeouts`,
          [
            d.map((x) => x[0]),
            shard,
            d.map((x) => x[1].total),
            d.map((x) => x[1].deletes),
            d.map((x) => x[1].pauses),
            d.map((x) => x[1].timeouts),
          ],
        ),
      );
    }
    if (batch.woken.size) {
      // Payload "<front>:<count>:<tube>" (tube names cannot hold ':'); count -1 means unknown.
      const tubes = [...batch.woken.keys()].sort();
      const counts = tubes.map((t) => (Number.isFinite(batch.woken.get(t)) ? batch.woken.get(t)! : -1));
      work.push(
        tx.unsafe("select pg_notify('beanrun', $2 || n || ':' || t) from unnest($1::text[], $3::int[]) as u(t, n)", [
          tubes,
          this.opts.notifyTag(),
          counts,
        ]),
      );
    }
    await Promise.all(work);
  }
}
