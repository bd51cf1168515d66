/**
 * One worker process per tube. The supervisor restarts a worker that exits
 * (with exponential backoff while it keeps crashing), kills a worker whose
 * handler runs past the job's TTR (the server then takes the job back and
 * counts the attempt), and stops every worker gracefully on shutdown.
 */
import type { SpawnedWorker } from "../adapters/spawn.ts";
import type { JobFile } from "./discover.ts";
import { isWorkerMessage, type SupervisorMessage } from "./ipc.ts";
import type { Logger } from "./log.ts";

export type SpawnWorker = (file: JobFile) => SpawnedWorker;

export interface SupervisorOptions {
  spawn: SpawnWorker;
  log: Logger;
  /** How long running handlers may take to finish on shutdown. */
  graceMs: number;
  /** A worker that lived at least this long before exiting is not crash-looping. */
  stableMs?: number;
  /** Backoff after the second quick exit in a row, doubling up to maxBackoffMs. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called once every tube's worker has reported ready for the first time. */
  onAllReady?: () => void;
}

interface Deadline {
  attempt: number;
  started: number;
  timer: ReturnType<typeof setTimeout>;
}

interface Tube {
  file: JobFile;
  proc: SpawnedWorker | null;
  startedAt: number;
  /** Quick exits in a row. */
  crashes: number;
  restartTimer: ReturnType<typeof setTimeout> | null;
  deadlines: Map<number, Deadline>;
  /** Why we are ending the current process, if we are. */
  ending: "ttr" | "restart" | "remove" | "shutdown" | null;
  exited: Promise<void>;
  everReady: boolean;
  /** Per worker slot: jobs it holds reserved in its current batch and has not started. */
  held: Map<number, Set<number>>;
  /** Jobs earlier workers held without starting them when they died: id -> how many such reservations. */
  notRun: Map<number, number>;
}

/** Most entries kept in a tube's notRun map (the oldest go first). */
const NOT_RUN_CAP = 50_000;

export class Supervisor {
  private readonly tubes = new Map<string, Tube>();
  private stopping = false;
  private readyCount = 0;
  private allReadyFired = false;

  constructor(private readonly opts: SupervisorOptions) {}

  get size(): number {
    return this.tubes.size;
  }

  has(tube: string): boolean {
    return this.tubes.has(tube);
  }

  add(file: JobFile): void {
    if (this.stopping || this.tubes.has(file.tube)) return;
    const t: Tube = {
      file,
      proc: null,
      startedAt: 0,
      crashes: 0,
      restartTimer: null,
      deadlines: new Map(),
      ending: null,
      exited: Promise.resolve(),
      everReady: false,
      held: new Map(),
      notRun: new Map(),
    };
    this.tubes.set(file.tube, t);
    this.launch(t);
  }

  /** Graceful restart (--watch): the old worker finishes its jobs, a new one starts. */
  restart(tube: string): void {
    const t = this.tubes.get(tube);
    if (!t || this.stopping) return;
    t.crashes = 0;
    if (t.restartTimer) {
      clearTimeout(t.restartTimer);
      t.restartTimer = null;
      this.launch(t);
      return;
    }
    if (!t.proc) return;
    this.opts.log.info("restarting worker", { tube, event: "worker-restart" });
    this.stop(t, "restart");
  }

  async remove(tube: string): Promise<void> {
    const t = this.tubes.get(tube);
    if (!t) return;
    this.tubes.delete(tube);
    if (t.restartTimer) clearTimeout(t.restartTimer);
    if (t.proc) this.stop(t, "remove");
    await t.exited;
  }

  /** Asks every worker to stop; SIGKILLs any still alive a little after the grace period. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    const all: Promise<void>[] = [];
    for (const t of this.tubes.values()) {
      if (t.restartTimer) clearTimeout(t.restartTimer);
      if (t.proc) this.stop(t, "shutdown");
      all.push(t.exited);
    }
    const killer = setTimeout(() => {
      for (const t of this.tubes.values()) t.proc?.kill("SIGKILL");
    }, this.opts.graceMs + 3000);
    await Promise.all(all);
    clearTimeout(killer);
  }

  private stop(t: Tube, why: NonNullable<Tube["ending"]>): void {
    t.ending = why;
    const msg: SupervisorMessage = { t: "shutdown", graceMs: this.opts.graceMs };
    t.proc!.send(msg);
  }

  private launch(t: Tube): void {
    t.restartTimer = null;
    t.ending = null;
    const log = this.opts.log.child({ tube: t.file.tube });
    let proc: SpawnedWorker;
    try {
      proc = this.opts.spawn(t.file);
    } catch (e) {
      log.error(`cannot start worker: ${(e as Error).message}`, { event: "worker-spawn-failed" });
      this.scheduleRestart(t);
      return;
    }
    t.proc = proc;
    t.startedAt = Date.now();
    t.held.clear();
    const init: SupervisorMessage = { t: "init", notRun: [...t.notRun] };
    proc.send(init);
    let resolveExited!: () => void;
    t.exited = new Promise<void>((r) => (resolveExited = r));
    log.debug("worker started", { event: "worker-start", pid: proc.pid });

    proc.onMessage((m) => {
      if (!isWorkerMessage(m) || t.proc !== proc) return;
      switch (m.t) {
        case "ready":
          log.info("worker ready", { event: "worker-ready", pid: proc.pid, concurrency: m.concurrency });
          if (!t.everReady) {
            t.everReady = true;
            this.readyCount++;
            this.checkAllReady();
          }
          break;
        case "start":
          if (m.held) t.held.set(m.slot, new Set(m.held));
          t.held.get(m.slot)?.delete(m.id);
          if (m.ends !== undefined) this.disarm(t, m.ends);
          this.arm(t, proc, m.id, m.attempt, Date.now(), m.deadline);
          break;
        case "touch": {
          const d = t.deadlines.get(m.id);
          if (d) this.arm(t, proc, m.id, d.attempt, d.started, m.deadline);
          break;
        }
        case "end":
          this.disarm(t, m.id);
          break;
      }
    });

    proc.onExit((code, signal) => {
      for (const d of t.deadlines.values()) clearTimeout(d.timer);
      t.deadlines.clear();
      if (t.proc === proc) t.proc = null;
      const why = t.ending;
      if (why === "ttr" || why === null) {
        // Died holding jobs it never started: the server counted those reservations; the next workers discount them.
        for (const ids of t.held.values()) {
          for (const id of ids) {
            const n = (t.notRun.get(id) ?? 0) + 1;
            t.notRun.delete(id);
            t.notRun.set(id, n);
          }
        }
        while (t.notRun.size > NOT_RUN_CAP) t.notRun.delete(t.notRun.keys().next().value!);
      }
      t.held.clear();
      t.ending = null;
      resolveExited();
      if (this.stopping || why === "remove") {
        log.debug("worker stopped", { event: "worker-exit", code, signal });
        return;
      }
      if (why === "restart" || why === "ttr") {
        this.launch(t);
        return;
      }
      const lived = Date.now() - t.startedAt;
      t.crashes = lived >= (this.opts.stableMs ?? 10_000) ? 1 : t.crashes + 1;
      const delay = this.backoff(t.crashes);
      log.error(`worker exited unexpectedly (${signal ? `signal ${signal}` : `code ${code}`}); restarting in ${delay} ms`, {
        event: "worker-crash",
        code,
        signal,
        crashes: t.crashes,
      });
      this.scheduleRestart(t, delay);
    });
  }

  private backoff(crashes: number): number {
    if (crashes <= 1) return 0;
    const base = this.opts.baseBackoffMs ?? 250;
    return Math.min(this.opts.maxBackoffMs ?? 30_000, base * 2 ** (crashes - 2));
  }

  private scheduleRestart(t: Tube, delay = this.backoff(++t.crashes)): void {
    if (this.stopping || !this.tubes.has(t.file.tube)) return;
    t.restartTimer = setTimeout(() => this.launch(t), delay);
  }

  private arm(t: Tube, proc: SpawnedWorker, id: number, attempt: number, started: number, deadline: number): void {
    const old = t.deadlines.get(id);
    if (old) clearTimeout(old.timer);
    const timer = setTimeout(() => {
      if (t.proc !== proc) return;
      this.opts.log.error("handler ran past its TTR: killing the worker (the server takes the job back)", {
        tube: t.file.tube,
        id,
        event: "timeout",
        attempt,
        ms: Date.now() - started,
      });
      t.ending = "ttr";
      proc.kill("SIGKILL");
    }, Math.max(0, deadline - Date.now()));
    t.deadlines.set(id, { attempt, started, timer });
  }

  private disarm(t: Tube, id: number): void {
    const d = t.deadlines.get(id);
    if (d) clearTimeout(d.timer);
    t.deadlines.delete(id);
  }

  private checkAllReady(): void {
    if (!this.allReadyFired && this.readyCount >= this.tubes.size) {
      this.allReadyFired = true;
      this.opts.onAllReady?.();
    }
  }
}
