/**
 * The worker processes of every tube. A tube has no process while it has
 * nothing ready; `backlog(tube)` (the queue's own events in the embedded
 * server, a poll under --connect: see backlog.ts) starts one when work
 * arrives, more while the backlog grows (policy.ts), and each exits by
 * itself after its idle time. The supervisor also kills a process whose
 * handler runs past the module's ttr (deadlines.ts), keeps the attempt
 * ledger (attempts.ts), backs off a tube whose processes keep crashing,
 * does not start a tube whose module failed to load until its file changes,
 * and stops every process gracefully on shutdown. Everything it does is an
 * event on the runner's stream (events.ts).
 */
import { statSync } from "node:fs";
import type { SpawnedWorker } from "../../adapters/spawn.ts";
import { AttemptLedger } from "../attempts.ts";
import type { ResolvedJob } from "../define.ts";
import type { JobFile } from "../discover.ts";
import type { ExitReason, RunnerEvents, StartReason } from "../events.ts";
import { EXIT, isWorkerMessage, type SupervisorMessage, type WorkerMessage } from "../ipc.ts";
import { Deadlines } from "./deadlines.ts";
import { plan, type TubeView } from "./policy.ts";
import { Spares } from "./spare.ts";

export type SpawnWorker = (file: JobFile) => SpawnedWorker;

export interface SupervisorOptions {
  spawn: SpawnWorker;
  /** Starts a spare worker (see spare.ts); without it every cold start spawns a process. */
  spawnSpare?: () => SpawnedWorker;
  /** Most spares at once, during a burst of cold starts (default 2). */
  maxSpares?: number;
  events: RunnerEvents;
  /** How long running handlers may take to finish on shutdown. */
  graceMs: number;
  /** Ready jobs in a tube now (the queue's count, or the last poll's). */
  backlogOf: (tube: string) => number;
  /** A worker lost the server (exit EXIT.serverGone): the counts may be stale. */
  serverGone?: () => void;
  /** Most worker processes at once, all tubes together. */
  maxProcesses: number;
  /** Default seconds without a job before a process exits (a module's processes.idle overrides). */
  idleSeconds: number;
  /** How long a tube with no process waits at the cap before the longest-running process yields. */
  quantumMs?: number;
  /** A worker that lived at least this long before exiting is not crash-looping. */
  stableMs?: number;
  /** Backoff after the second quick exit in a row, doubling up to maxBackoffMs. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Least time between two evaluations prompted by ready events. */
const EVAL_GAP_MS = 20;

interface Proc {
  w: SpawnedWorker;
  pid: number;
  startedAt: number;
  ready: boolean;
  /** Why we are ending it, if we are. */
  ending: ExitReason | null;
  deadlines: Deadlines;
}

interface Tube {
  file: JobFile;
  job: ResolvedJob;
  procs: Map<number, Proc>;
  ledger: AttemptLedger;
  /** Quick exits in a row, and no start before notBefore (ms). */
  crashes: number;
  notBefore: number;
  /** The module failed to load: its file as it was then (no start until it changes). */
  failed: string | null;
  failedCheckedAt: number;
  waitingSince: number | null;
  removed: boolean;
}

export class Supervisor {
  private readonly tubes = new Map<string, Tube>();
  private stopping = false;
  private yielding = 0;
  private evalScheduled = false;
  private evalNow = false;
  private lastEval = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  private readonly spare: Spares | null;

  constructor(private readonly opts: SupervisorOptions) {
    this.spare = opts.spawnSpare ? new Spares(opts.spawnSpare, opts.events, opts.maxSpares) : null;
    // Workers send only the event types someone subscribed to.
    let first = true;
    opts.events.onInterest((types) => {
      if (first) return void (first = false);
      const msg: SupervisorMessage = { t: "interest", events: types && [...types] };
      for (const t of this.tubes.values()) for (const p of t.procs.values()) p.w.send(msg);
    });
  }

  has(tube: string): boolean {
    return this.tubes.has(tube);
  }

  /** Worker processes alive or starting (of one tube, or all). */
  processes(tube?: string): number {
    if (tube !== undefined) return this.tubes.get(tube)?.procs.size ?? 0;
    let n = 0;
    for (const t of this.tubes.values()) n += t.procs.size;
    return n;
  }

  add(file: JobFile, job: ResolvedJob): void {
    if (this.stopping || this.tubes.has(file.tube)) return;
    const t: Tube = {
      file,
      job,
      procs: new Map(),
      ledger: new AttemptLedger(),
      crashes: 0,
      notBefore: 0,
      failed: null,
      failedCheckedAt: 0,
      waitingSince: null,
      removed: false,
    };
    this.tubes.set(file.tube, t);
    this.evaluate();
  }

  /** Work may have arrived for `tube` (called at the rate jobs become ready: cheap unless something should start). */
  backlog(tube: string, ready: number): void {
    const t = this.tubes.get(tube);
    if (!t || ready === 0) return;
    const n = t.procs.size;
    // A cold tube starts in this turn (once per process it gets, so this stays cheap); not one waiting for the cap.
    if (n === 0 && t.failed === null && t.waitingSince === null && Date.now() >= t.notBefore) this.evaluateNow();
    else if (n === 0 || (n < t.job.processes.max && ready > n * t.job.concurrency)) this.schedule();
  }

  /** --watch: the file changed. Its processes finish their jobs and stop; new ones start for the next work. */
  restart(tube: string): void {
    const t = this.tubes.get(tube);
    if (!t || this.stopping) return;
    t.crashes = 0;
    t.notBefore = 0;
    t.failed = null;
    for (const p of t.procs.values()) this.stop(t, p, "restart");
    this.evaluate();
  }

  async remove(tube: string): Promise<void> {
    const t = this.tubes.get(tube);
    if (!t) return;
    this.tubes.delete(tube);
    t.removed = true;
    await Promise.all([...t.procs.values()].map((p) => this.stop(t, p, "remove")));
  }

  /** Asks every worker to stop; SIGKILLs any still alive a little after the grace period. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.spare?.stop();
    const all: Promise<void>[] = [];
    for (const t of this.tubes.values()) for (const p of t.procs.values()) all.push(this.stop(t, p, "shutdown"));
    const killer = setTimeout(() => {
      for (const t of this.tubes.values()) for (const p of t.procs.values()) p.w.kill("SIGKILL");
    }, this.opts.graceMs + 3000);
    await Promise.all(all);
    clearTimeout(killer);
  }

  /** Resolves when the process has exited. */
  private stop(_t: Tube, p: Proc, why: ExitReason): Promise<void> {
    const exited = new Promise<void>((r) => p.w.onExit(() => r()));
    if (p.ending === null || why === "shutdown") {
      p.ending = why;
      const msg: SupervisorMessage = { t: "shutdown", graceMs: this.opts.graceMs };
      p.w.send(msg);
    }
    return exited;
  }

  /** Evaluates at the end of this turn (once, however many cold tubes asked). */
  private evaluateNow(): void {
    if (this.evalNow) return;
    this.evalNow = true;
    queueMicrotask(() => {
      this.evalNow = false;
      this.evaluate();
    });
  }

  /**
   * Evaluates soon: at once when the last evaluation is more than EVAL_GAP_MS
   * old (a cold tube starts without delay), else at the end of that gap, so a
   * flood of ready events costs at most one evaluation per gap.
   */
  private schedule(): void {
    if (this.evalScheduled) return;
    this.evalScheduled = true;
    const wait = this.lastEval + EVAL_GAP_MS - Date.now();
    if (wait <= 0) queueMicrotask(() => this.evaluate());
    else setTimeout(() => this.evaluate(), wait);
  }

  /** Starts what the policy says may start, asks for a yield if a tube starves, and notes who waits. */
  private evaluate(): void {
    this.evalScheduled = false;
    if (this.stopping) return;
    const now = Date.now();
    this.lastEval = now;
    const views: TubeView[] = [];
    for (const t of this.tubes.values()) {
      // A failed module is looked at again (one stat) at most once a second while work arrives for it.
      if (t.failed !== null && now - t.failedCheckedAt >= 1000) {
        t.failedCheckedAt = now;
        if (this.fileSignature(t) !== t.failed) t.failed = null;
      }
      let starting = 0;
      let oldest: number | null = null;
      for (const p of t.procs.values()) {
        if (!p.ready) starting++;
        if (p.ending === null && (oldest === null || p.startedAt < oldest)) oldest = p.startedAt;
      }
      views.push({
        tube: t.file.tube,
        procs: t.procs.size,
        starting,
        min: t.job.processes.min,
        max: t.job.processes.max,
        concurrency: t.job.concurrency,
        backlog: this.opts.backlogOf(t.file.tube),
        blocked: t.failed !== null || now < t.notBefore,
        waitingSince: t.waitingSince,
        oldestStart: oldest,
      });
    }
    const quantum = this.opts.quantumMs ?? 10_000;
    const p = plan(views, this.opts.maxProcesses, now, quantum, this.yielding > 0);
    this.spare?.ensure();
    for (const name of p.start) {
      const t = this.tubes.get(name)!;
      if (t.waitingSince !== null) {
        this.opts.events.emit({ type: "tube.resumed", tube: name, waitedMs: now - t.waitingSince });
        t.waitingSince = null;
      }
      this.launch(t, t.procs.size === 0 ? (t.crashes > 0 ? "replace" : "work") : "scale-out");
    }
    for (const name of p.waiting) {
      const t = this.tubes.get(name)!;
      if (t.waitingSince !== null) continue;
      t.waitingSince = now;
      this.opts.events.emit({ type: "tube.waiting", tube: name, cap: this.opts.maxProcesses, running: this.processes() });
    }
    if (p.yieldFrom !== null) {
      const t = this.tubes.get(p.yieldFrom)!;
      const victim = [...t.procs.values()].filter((x) => x.ending === null && x.ready).sort((a, b) => a.startedAt - b.startedAt)[0];
      if (victim) {
        this.yielding++;
        void this.stop(t, victim, "yield");
      }
    }
    // Come back when a crash backoff ends or a waiting tube's quantum is up.
    let next = Infinity;
    for (const v of views)
      if (v.blocked && this.tubes.get(v.tube)!.failed === null) next = Math.min(next, this.tubes.get(v.tube)!.notBefore);
    if (p.waiting.length) next = Math.min(next, now + Math.min(quantum, 1000));
    if (this.timer) clearTimeout(this.timer);
    this.timer = next === Infinity ? null : setTimeout(() => this.evaluate(), Math.max(10, next - now));
  }

  private launch(t: Tube, reason: StartReason): void {
    let w: SpawnedWorker;
    let spare: SpawnedWorker | null = null;
    try {
      spare = this.spare?.take(t.file) ?? null;
      w = spare ?? this.opts.spawn(t.file);
    } catch (e) {
      this.opts.events.emit({ type: "runner.error", tube: t.file.tube, msg: `cannot start a worker: ${(e as Error).message}` });
      t.crashes++;
      t.notBefore = Date.now() + this.backoff(t.crashes);
      return;
    }
    const tube = t.file.tube;
    const { events } = this.opts;
    const p: Proc = {
      w,
      pid: w.pid,
      startedAt: Date.now(),
      ready: false,
      ending: null,
      deadlines: new Deadlines((id, run) => {
        events.emit({ type: "job.timeout", tube, id, attempt: run.attempt, pid: p.pid, ms: Date.now() - run.started, ttr: t.job.ttr });
        p.ending = "ttr";
        t.ledger.hangingUp(p.pid); // its reservations come back as it dies; answers wait for its exit
        w.kill("SIGKILL");
      }),
    };
    t.procs.set(p.pid, p);
    const idle = t.procs.size <= t.job.processes.min ? 0 : (t.job.processes.idle ?? this.opts.idleSeconds);
    const interest = this.opts.events.interestedIn;
    const init: SupervisorMessage = { t: "init", notRun: t.ledger.entries(), idleSeconds: idle, events: interest && [...interest] };
    w.send(init);
    events.emit({ type: "worker.start", tube, pid: p.pid, reason });
    w.onMessage((m) => {
      if (isWorkerMessage(m)) this.onMessage(t, p, m);
    });
    w.onExit((code, signal) => this.onExit(t, p, code, signal));
  }

  private onMessage(t: Tube, p: Proc, m: WorkerMessage): void {
    switch (m.t) {
      case "events":
        for (const e of m.events) this.opts.events.emit(e);
        break;
      case "start":
        t.ledger.started(p.pid, m.slot, m.id, m.held);
        if (m.ends !== undefined) p.deadlines.disarm(m.ends);
        p.deadlines.arm(m.id, m.attempt, Date.now(), m.deadline);
        break;
      case "touch":
        p.deadlines.extend(m.id, m.deadline);
        break;
      case "end":
        p.deadlines.disarm(m.id);
        break;
      case "notRun":
        this.tellNotRun(t, t.ledger.reservedNotRun(m.ids), p);
        break;
      case "hangingUp":
        t.ledger.hangingUp(p.pid);
        break;
      case "hungUp":
        t.ledger.hungUp(p.pid);
        break;
      case "ask":
        // After this turn: messages already received (another process's hangingUp) count first.
        setImmediate(() => t.ledger.ask(m.id, (n) => p.w.send({ t: "answer", id: m.id, notRun: n })));
        break;
      case "ready":
        p.ready = true;
        this.opts.events.emit({ type: "worker.ready", tube: t.file.tube, pid: p.pid, concurrency: m.concurrency, boot: m.boot });
        this.schedule();
        break;
    }
  }

  private onExit(t: Tube, p: Proc, code: number | null, signal: string | null): void {
    p.deadlines.clear();
    t.procs.delete(p.pid);
    const reason: ExitReason =
      p.ending ??
      (code === EXIT.ok ? "idle" : code === EXIT.serverGone ? "server-gone" : code === EXIT.loadFailed ? "load-failed" : "crash");
    if (p.ending === "yield") this.yielding--;
    // Died holding jobs it never started: the server counted those reservations; the next workers discount them.
    this.tellNotRun(t, t.ledger.exited(p.pid, reason === "ttr" || reason === "crash"));
    const lived = Date.now() - p.startedAt;
    const exit = { type: "worker.exit" as const, tube: t.file.tube, pid: p.pid, reason, code, signal, lived };
    if (reason === "crash") {
      t.crashes = lived >= (this.opts.stableMs ?? 10_000) ? 1 : t.crashes + 1;
      const delay = this.backoff(t.crashes);
      t.notBefore = Date.now() + delay;
      this.opts.events.emit({ ...exit, crashes: t.crashes, restartInMs: delay });
    } else {
      if (reason === "server-gone") this.opts.serverGone?.();
      if (reason === "load-failed") {
        t.failed = this.fileSignature(t);
        t.failedCheckedAt = Date.now();
      } else if (lived >= (this.opts.stableMs ?? 10_000)) t.crashes = 0;
      this.opts.events.emit(exit);
    }
    if (!this.stopping && !t.removed) this.evaluate();
  }

  /** The tube's live processes (but `from`) learn new ledger entries; new ones get the whole ledger in their init. */
  private tellNotRun(t: Tube, entries: [number, number][], from?: Proc): void {
    if (!entries.length) return;
    const msg: SupervisorMessage = { t: "notRun", entries };
    for (const p of t.procs.values()) if (p !== from) p.w.send(msg);
  }

  /** The module file as it is now (size and mtime), to notice when a failed one changes. */
  private fileSignature(t: Tube): string {
    try {
      const s = statSync(t.file.path);
      return `${s.size}:${s.mtimeMs}`;
    } catch {
      return "missing";
    }
  }

  private backoff(crashes: number): number {
    if (crashes <= 1) return 0;
    const base = this.opts.baseBackoffMs ?? 250;
    return Math.min(this.opts.maxBackoffMs ?? 30_000, base * 2 ** (crashes - 2));
  }
}
