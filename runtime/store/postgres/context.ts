/**
 * What the sessions of one PostgreSQL-backed front end share: the link to the
 * database, the per-front-end counters and tube references that stats
 * reports, and the routing of wake-ups to waiting reserves.
 *
 * Wake-ups carry how many jobs became ready in each tube; that many idle
 * waiting sessions watching the tube are poked (in connection order), and a
 * session that then gets a job passes the wake on to the next one, so a put
 * costs one or two reserve attempts, not one per waiting connection. Sessions whose attempt is in
 * flight are marked to try once more, since their attempt may have read the
 * table before the job was committed.
 */

import type { Compat, HostInfo } from "../../protocol/context.ts";
import { COMMAND_NAMES, Op } from "../../protocol/ops.ts";
import type { Front } from "./front.ts";
import type { ServerRow } from "./inspect.ts";
import type { Session } from "./session.ts";
import * as S from "./statements.ts";

/** The cmd-* lines of stats: every command but reserve-job and kick-job, which beanstalkd does not count there. */
const STATS_COMMANDS = COMMAND_NAMES.filter(([, op]) => op !== Op.ReserveJob && op !== Op.KickJob);

export interface LocalStats {
  ops: Float64Array;
  producers: number;
  workers: number;
  waiting: number;
  connections: number;
  totalConns: number;
  tubes: string[];
}

export interface TubeRefs {
  using: number;
  watching: number;
}

export class FrontContext {
  readonly ops = new Float64Array(Op.Count);
  readonly sessions = new Set<Session>();
  readonly refs = new Map<string, TubeRefs>();
  readonly startedAt = Date.now();
  totalConns = 0;
  draining = false;
  private lastError = "";

  constructor(
    readonly front: Front,
    readonly host: HostInfo,
    readonly compat: Compat,
    readonly maxJobSize: number,
    private readonly log: (line: string) => void,
  ) {
    front.wakeups.onWake((tubes, poke) => this.wake(tubes, poke));
    front.wakeups.retryAll = () => {
      for (const s of this.sessions) s.poke();
    };
    // Registered again under a new id (its lease had run out): the old id's rows went with it.
    front.reregistered = () => {
      for (const t of this.refs.keys()) this.record(t, true);
    };
  }

  /**
   * A connection starts or stops using or watching `tube`. The first and the
   * last reference of this front end are recorded in the database (in order,
   * without waiting), so other front ends list the tube meanwhile; `default`
   * always exists and is not recorded.
   */
  tubeRef(tube: string, kind: keyof TubeRefs, d: number): void {
    let r = this.refs.get(tube);
    if (!r) {
      this.refs.set(tube, (r = { using: 0, watching: 0 }));
      this.record(tube, true);
    }
    r[kind] += d;
    if (r.using === 0 && r.watching === 0) {
      this.refs.delete(tube);
      this.record(tube, false);
    }
  }

  private readonly refsKey = {};

  private record(tube: string, on: boolean): void {
    if (tube === "default") return;
    this.front.run((tx, b) => S.tubeRef(this.front.id, tube, on)(tx, b), this.refsKey, false).catch((e) => this.logError(e));
  }

  waitingOn(tube: string): number {
    let n = 0;
    for (const s of this.sessions) if (s.wait?.waited && s.watch.includes(tube)) n++;
    return n;
  }

  /**
   * Pokes (or with `poke` false only counts) as many idle waiters as jobs
   * became ready (those with an attempt in flight try once more, but do not
   * count); returns the jobs per tube that no idle waiter covers.
   */
  private wake(tubes: ReadonlyMap<string, number>, poke: boolean): Map<string, number> {
    const left = new Map(tubes);
    for (const s of this.sessions) {
      if (!left.size) break;
      if (!s.wait) continue;
      const t = s.watch.find((w) => left.has(w));
      if (t === undefined || !(poke ? s.poke() : s.idle())) continue;
      const n = left.get(t)! - 1;
      if (n > 0) left.set(t, n);
      else left.delete(t);
    }
    return left;
  }

  logError(e: unknown): void {
    const msg = (e as Error)?.message ?? String(e);
    // One line per distinct error, not one per command of a failed batch.
    if (msg === this.lastError) return;
    this.lastError = msg;
    this.log(`beanrun: PostgreSQL: ${msg}`);
  }

  /** This front end's figures for stats, taken when the command is read (its reply comes later). */
  snapshot(): LocalStats {
    const l: LocalStats = {
      ops: this.ops.slice(),
      producers: 0,
      workers: 0,
      waiting: 0,
      connections: this.sessions.size,
      totalConns: this.totalConns,
      tubes: [...this.refs.keys()],
    };
    for (const s of this.sessions) {
      if (s.producer) l.producers++;
      if (s.worker) l.workers++;
      if (s.wait?.waited) l.waiting++;
    }
    return l;
  }

  /** stats: job counts cluster-wide, the rest this front end's. */
  formatStats(r: ServerRow, l: LocalStats): string {
    const { ops, producers, workers, waiting } = l;
    const cpu = this.host.cpuUsage();
    const rusage = (us: number) => `${Math.floor(us / 1e6)}.${String(Math.floor(us % 1e6)).padStart(6, "0")}`;
    const q = (s: string) => (this.compat === "1.12" ? s : `"${s}"`);
    return (
      "---\n" +
      `current-jobs-urgent: ${r.urgent}\n` +
      `current-jobs-ready: ${r.ready}\n` +
      `current-jobs-reserved: ${r.reserved}\n` +
      `current-jobs-delayed: ${r.delayed}\n` +
      `current-jobs-buried: ${r.buried}\n` +
      STATS_COMMANDS.map(([n, op]) => `cmd-${n}: ${ops[op]}\n`).join("") +
      `job-timeouts: ${r.timeouts}\n` +
      `total-jobs: ${r.total}\n` +
      `max-job-size: ${this.maxJobSize}\n` +
      `current-tubes: ${new Set(["default", ...l.tubes, ...r.tubes]).size}\n` +
      `current-connections: ${l.connections}\n` +
      `current-producers: ${producers}\n` +
      `current-workers: ${workers}\n` +
      `current-waiting: ${waiting}\n` +
      `total-connections: ${l.totalConns}\n` +
      `pid: ${this.host.pid}\n` +
      `version: "${this.host.version}"\n` +
      `rusage-utime: ${rusage(cpu.user)}\n` +
      `rusage-stime: ${rusage(cpu.system)}\n` +
      `uptime: ${Math.trunc((Date.now() - this.startedAt) / 1000)}\n` +
      // No binlog: PostgreSQL is the log; max-size is beanstalkd's default, as the in-memory server reports.
      "binlog-oldest-index: 0\nbinlog-current-index: 0\nbinlog-records-migrated: 0\nbinlog-records-written: 0\nbinlog-max-size: 10485760\n" +
      `draining: ${this.draining ? "true" : "false"}\n` +
      `id: ${this.host.instanceId}\n` +
      `hostname: ${q(this.host.hostname)}\n` +
      `os: ${q(this.host.os)}\n` +
      `platform: ${q(this.host.platform)}\n`
    );
  }
}
