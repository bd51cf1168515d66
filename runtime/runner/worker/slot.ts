/**
 * One concurrency slot of a worker process: its own connection, running one
 * job at a time, in batches (see batching.ts):
 *
 *   one write: the previous batch's outcomes + `want` reserves
 *   one write: a stats-job per reserved job (for the attempt count)
 *   then the batch's handlers one after another
 *
 * Outcomes go out with the next batch's reserves, or after HOLD_OUTCOMES_MS
 * when the batch is slow. The supervisor hears of each start (to enforce the
 * ttr) and each end, sent a moment late so that the next start carries it:
 * one IPC message per job.
 */
import { BeanstalkError } from "../../client/index.ts";
import { attemptOf } from "../attempts.ts";
import type { JobInfo, Reserved, WorkerConnection } from "../wire.ts";
import { BatchSizer, HOLD_OUTCOMES_MS, heldDueForTouch, TOUCH_AFTER_MS } from "./batching.ts";
import { type Answer, type RunTells, runHeld } from "./job-run.ts";
import type { Held, WorkerScope } from "./scope.ts";

export class Slot implements RunTells {
  private readonly sizer = new BatchSizer();
  /** Outcome commands of finished jobs not sent yet. */
  private outcomes: Answer[] = [];
  private outcomeTimer: ReturnType<typeof setTimeout> | null = null;
  /** Acknowledgements of the outcomes sent. */
  private acks: Promise<void>[] = [];
  private endBatch: () => void = () => {};
  /** Settles when the current batch's outcomes are acknowledged. */
  batch: Promise<void> | null = null;
  /** Pending while reserves are out: settles once they are answered (or handed back, when stopping). */
  reserving: Promise<void> | null = null;
  /** The previous job's "end", held back to ride on the next "start". */
  private pendingEnd: ReturnType<typeof setTimeout> | null = null;
  private lastId = 0;
  /** The batch's jobs not started yet, told with the batch's first start. */
  private heldNote: number[] | null = null;

  constructor(
    private readonly w: WorkerScope,
    readonly conn: WorkerConnection,
    readonly no: number,
  ) {}

  started(id: number, attempt: number, deadline: number): void {
    const msg: { t: "start"; id: number; attempt: number; deadline: number; slot: number; ends?: number; held?: number[] } = {
      t: "start",
      id,
      attempt,
      deadline,
      slot: this.no,
    };
    if (this.pendingEnd) {
      clearTimeout(this.pendingEnd);
      this.pendingEnd = null;
      msg.ends = this.lastId;
    }
    if (this.heldNote) {
      msg.held = this.heldNote;
      this.heldNote = null;
    }
    this.w.link.send(msg);
    this.lastId = id;
  }

  ended(id: number): void {
    this.pendingEnd = setTimeout(() => {
      this.pendingEnd = null;
      this.w.link.send({ t: "end", id });
    }, 1);
  }

  /** Runs until the worker stops, the process goes idle, or the connection fails (it throws then). */
  async loop(): Promise<void> {
    try {
      for (;;) {
        const got = await this.fetch();
        if (got === null) return;
        if (got.length === 0) continue;
        await this.runBatch(got);
      }
    } finally {
      if (this.outcomeTimer) clearTimeout(this.outcomeTimer);
      this.endBatch();
    }
  }

  /** Sends the outcomes and the next reserves in one write; the jobs got, or null to stop. */
  private async fetch(): Promise<Reserved[] | null> {
    const { w } = this;
    this.sendOutcomes();
    if (w.stopping) {
      await this.settleAcks();
      return null;
    }
    const reserved = await this.reserveSome();
    if (reserved === null) return null;
    const { got, timedOut } = reserved;
    if (got.length === 0) {
      this.sizer.empty(); // nothing waiting: block in reserve next
      if (timedOut && w.gate && !(await w.gate.park())) return null;
      return [];
    }
    w.gate?.busy();
    return got;
  }

  /**
   * The reserves of one fetch and their answers; null when the worker began
   * stopping meanwhile (what they got was handed back). `reserving` is pending
   * throughout, so a stopping worker knows when its slots have hung up.
   */
  private async reserveSome(): Promise<{ got: Reserved[]; timedOut: boolean } | null> {
    const { w, conn } = this;
    let done!: () => void;
    this.reserving = new Promise<void>((r) => (done = r));
    try {
      // One write: the previous batch's outcomes, then either one waiting reserve or, while the
      // tube has had jobs waiting, `want` reserve-with-timeout 0s (a waiting reserve in front of
      // them would hold their replies until the server next reads this connection).
      const want = this.sizer.want;
      const first = want === 1 ? (w.gate ? conn.reserveWithin(w.idleSeconds) : conn.reserve()) : null;
      const more: Promise<Reserved | null>[] = [];
      for (let i = first ? 1 : 0; i < want; i++) more.push(conn.reserveNow());
      first?.catch(() => {});
      for (const m of more) m.catch(() => {});
      await this.settleAcks();
      this.endBatch(); // the previous batch is answered
      // Stopping: hang up. Reserves the server answered first still arrive, and are handed back below.
      if (w.stopping) void conn.end();
      const got: Reserved[] = [];
      let timedOut = false;
      if (first) {
        w.idle.add(conn);
        try {
          const r = await first;
          if (r) got.push(r);
          else timedOut = true;
        } catch (e) {
          // Stopping: the server closed the connection before answering. Otherwise it cannot happen while the slot holds nothing.
          if (!w.stopping && !(e instanceof BeanstalkError && e.code === "DEADLINE_SOON")) throw e;
        }
        w.idle.delete(conn);
      }
      for (const m of more) {
        const r = await m.catch((e: unknown) => {
          if (w.stopping) return null;
          throw e;
        });
        if (r) got.push(r);
      }
      if (w.stopping) {
        this.handBack(got);
        return null;
      }
      return { got, timedOut };
    } finally {
      this.reserving = null;
      done();
    }
  }

  /**
   * Jobs a stopping slot got: the server counted these reservations and takes
   * the jobs back as the connection closes, but they did not run here. The
   * supervisor's ledger says so to the tube's next attempts (attempts.ts).
   */
  private handBack(got: Reserved[]): void {
    void this.conn.end();
    if (got.length) this.w.link.send({ t: "notRun", ids: got.map((r) => r.id) });
  }

  /**
   * The attempt this reservation is. One that looks like a retry asks the
   * supervisor's ledger first: another process of the tube may have hung up
   * on it a moment ago, and its report may not have reached us yet (attempts.ts).
   */
  private async attemptOf(id: number, info: JobInfo): Promise<number> {
    const { w } = this;
    const attempt = attemptOf(info.reserves, info.kicks, w.notRun.of(id), w.job.attempts);
    if (attempt === 1) return attempt;
    const notRun = await w.link.ask(id);
    if (notRun === null || notRun <= w.notRun.of(id)) return attempt;
    w.notRun.load([[id, notRun]]);
    return attemptOf(info.reserves, info.kicks, notRun, w.job.attempts);
  }

  private async runBatch(got: Reserved[]): Promise<void> {
    const { w, conn } = this;
    this.batch = new Promise<void>((r) => (this.endBatch = r));
    const reservedAt = performance.now();
    const infos = await Promise.all(got.map((r) => conn.jobInfo(r.id)));
    const attempts = await Promise.all(got.map((r, i) => this.attemptOf(r.id, infos[i]!)));
    const batch: Held[] = got.map((r, i) => {
      return { id: r.id, body: r.body, info: infos[i]!, reservedAt, conn, started: 0, attempt: attempts[i]! };
    });
    for (const h of batch) w.held.add(h);
    const t0 = performance.now();
    // Jobs still waiting in the batch while a handler runs long are touched, so their TTR does not run out.
    let next = 0;
    const keepAlive =
      batch.length > 1
        ? setInterval(() => {
            const now = performance.now();
            const at = batch.map((h) => h.reservedAt);
            for (const i of heldDueForTouch(at, next + 1, now)) {
              const h = batch[i]!;
              h.reservedAt = now;
              conn.touch(h.id).catch(() => (h.lost = true));
            }
          }, TOUCH_AFTER_MS)
        : null;
    try {
      for (; next < batch.length; next++) {
        const h = batch[next]!;
        if (next === 0 || this.heldNote) this.heldNote = batch.slice(next + 1).map((x) => x.id);
        const outcome = await runHeld(w, h, this);
        if (!outcome) {
          w.held.delete(h);
          continue;
        }
        this.outcomes.push(() => outcome().finally(() => w.held.delete(h)));
        // Finished jobs are not kept waiting for their delete by a slow batch or a slow next handler.
        if (performance.now() - t0 > HOLD_OUTCOMES_MS) this.sendOutcomes();
        else this.outcomeTimer ??= setTimeout(() => this.sendOutcomes(), HOLD_OUTCOMES_MS);
      }
    } finally {
      if (keepAlive) clearInterval(keepAlive);
    }
    this.sizer.ran(batch.length, performance.now() - t0);
  }

  private sendOutcomes(): void {
    if (this.outcomeTimer) {
      clearTimeout(this.outcomeTimer);
      this.outcomeTimer = null;
    }
    for (const o of this.outcomes) this.acks.push(o());
    this.outcomes = [];
  }

  private async settleAcks(): Promise<void> {
    const a = this.acks;
    this.acks = [];
    try {
      await Promise.all(a);
    } catch (e) {
      if (!this.w.stopping) throw e;
    }
  }
}
